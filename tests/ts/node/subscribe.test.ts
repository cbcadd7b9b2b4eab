// The runtime's `subscribe` against a scripted `fetch` (no server): how a subscription ends.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { test } from "node:test";

import { createClient, SubscribeError, subscribe, type Echo, type ReverseEcho } from "./echo.js";
import * as features from "./features.js";

const BOUND = 10_000; // milliseconds: far more than any of these needs, far less than the delays they must not wait

/** `done`, or "still running" if it has not settled within `BOUND`. */
function settled<T>(done: Promise<T>): Promise<T | "still running"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<"still running">((resolve) => {
    timer = setTimeout(() => resolve("still running"), BOUND);
  });
  return Promise.race([done, bound]).finally(() => clearTimeout(timer));
}

/** A response whose body never ends, sending `text` again and again until the request is aborted. */
function endless(text: string, contentType: string, signal: AbortSignal | null | undefined): Response {
  const chunk = new TextEncoder().encode(text);
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (signal?.aborted === true) controller.error(signal.reason);
      else controller.enqueue(chunk);
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": contentType } });
}

test("subscribe: a response that is not an event stream fails, even if its body never ends", async () => {
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      fetch: (async (_url: string | URL | Request, init?: RequestInit) =>
        endless("not an event stream\n", "text/plain", init?.signal)) as typeof fetch,
    },
    {},
  );
  const end = await settled(subscription.done.catch((error: unknown) => error));
  if (end === "still running") subscription();
  assert.ok(end instanceof SubscribeError, String(end));
  assert.equal(end.message, "GET /echo: expected text/event-stream, got text/plain");
  assert.equal(end.status, 200);
  assert.ok(end.body !== undefined && end.body.length > 0 && end.body.length <= 65536, `${end.body?.length}`);
  assert.ok(end.body.startsWith("not an event stream\nnot an event stream\n"));
});

test("subscribe: stopping it from onRetry ends it at once, without waiting for the delay", async () => {
  const replies = [new Response("retry: 30000\n\n", { status: 200, headers: { "content-type": "text/event-stream" } })];
  const attempts: number[] = [];
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      fetch: (async () => replies.shift() ?? new Response(null, { status: 204 })) as typeof fetch,
      onRetry: ({ attempt }) => {
        attempts.push(attempt);
        subscription();
      },
    },
    {},
  );
  assert.deepEqual(await settled(subscription.done), { reason: "aborted" });
  assert.deepEqual(attempts, [1]);
});

test("subscribe: a retry: longer than setTimeout allows is reported as the delay it waits", async () => {
  const replies = [new Response("retry: 9999999999\n\n", { status: 200, headers: { "content-type": "text/event-stream" } })];
  const reported: number[] = [];
  const waited: number[] = [];
  const setTimeoutBefore = globalThis.setTimeout;
  // Note the subscription's own delay (far past any of this test's timers), then stop it while it waits.
  globalThis.setTimeout = ((handler: () => void, ms?: number) => {
    if (ms !== undefined && ms > BOUND) {
      waited.push(ms);
      queueMicrotask(() => subscription());
    }
    return setTimeoutBefore(handler, ms);
  }) as typeof setTimeout;
  let subscription: ReturnType<typeof subscribe<"/echo">>;
  try {
    subscription = subscribe(
      "/echo",
      {
        baseUrl: "http://127.0.0.1:9",
        query: { message: "hi" },
        fetch: (async () => replies.shift() ?? new Response(null, { status: 204 })) as typeof fetch,
        onRetry: ({ delay }) => reported.push(delay),
      },
      {},
    );
    assert.deepEqual(await settled(subscription.done), { reason: "aborted" });
  } finally {
    globalThis.setTimeout = setTimeoutBefore;
  }
  assert.deepEqual(reported, [2147483647]); // about 24.8 days
  assert.deepEqual(waited, reported);
});

test("subscribe: after retry: 0, attempts that fail still back off", async () => {
  const events = "retry: 0\n\nevent: echo\nid: 1\ndata: {\"message\":\"hi\",\"created_at\":\"2026-01-01T00:00:00Z\"}\n\n";
  const replies: (Response | Error)[] = [
    new Response(events, { status: 200, headers: { "content-type": "text/event-stream" } }),
    ...Array.from({ length: 5 }, () => new TypeError("connection refused")),
    new Response(null, { status: 204 }),
  ];
  const delays: number[] = [];
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      fetch: (async () => {
        const reply = replies.shift();
        if (reply === undefined || reply instanceof Error) throw reply ?? new Error("no more replies");
        return reply;
      }) as typeof fetch,
      onRetry: ({ delay }) => delays.push(delay),
    },
    {},
  );
  assert.deepEqual(await settled(subscription.done), { reason: "no-content" });
  // The server's delay after the connection that delivered an event, and after the first attempt that failed;
  // then doubled for each further failure, from 1 ms since doubling 0 would reconnect in a tight loop.
  assert.deepEqual(delays, [0, 0, 2, 4, 8, 16]);
});

/** A `fetch` that ignores the request's signal, as some wrappers do, answering with a stream that stays silent. */
function deafFetch(opened: string[], delay = 0): typeof fetch {
  return (async () => {
    opened.push("fetch");
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const silent = new ReadableStream<Uint8Array>({
      pull: () => new Promise<void>(() => undefined), // never sends, never ends
      cancel: () => {
        opened.push("cancelled");
      },
    });
    return new Response(silent, { status: 200, headers: { "content-type": "text/event-stream" } });
  }) as typeof fetch;
}

// Stopped a moment after `onOpen` (a read is pending) or from within it (none is yet, but the body is
// about to be read): either way the stop cancels the body, the one thing such a fetch still obeys.
for (const [when, stopFrom] of [
  ["after onOpen", (stop: () => void) => setTimeout(stop, 1)],
  ["from onOpen", (stop: () => void) => stop()],
] as const) {
  test(`subscribe: stopped ${when}, it ends at once, even with a fetch that ignores the signal`, async () => {
    const seen: string[] = [];
    const subscription = subscribe(
      "/echo",
      {
        baseUrl: "http://127.0.0.1:9",
        query: { message: "hi" },
        fetch: deafFetch(seen),
        onOpen: () => {
          seen.push("open");
          stopFrom(() => subscription());
        },
      },
      {},
    );
    assert.deepEqual(await settled(subscription.done), { reason: "aborted" });
    assert.deepEqual(seen, ["fetch", "open", "cancelled"]);
  });
}

// An async `onOpen` is not awaited, but its rejection counts as its exception.
for (const [how, fail] of [
  ["throwing", (failure: Error): void => {
    throw failure;
  }],
  ["rejecting", async (failure: Error): Promise<void> => {
    throw failure;
  }],
] as const) {
  test(`subscribe: onOpen ${how} ends it and cancels the body, even with a fetch that ignores the signal`, async () => {
    const seen: string[] = [];
    const failure = new Error("onOpen failed");
    const subscription = subscribe(
      "/echo",
      {
        baseUrl: "http://127.0.0.1:9",
        query: { message: "hi" },
        fetch: deafFetch(seen),
        onOpen: () => {
          seen.push("open");
          return fail(failure);
        },
      },
      {},
    );
    const end = await settled(subscription.done.catch((error: unknown) => error));
    if (end === "still running") subscription();
    assert.equal(end, failure);
    assert.deepEqual(seen, ["fetch", "open", "cancelled"]);
  });
}

test("subscribe: stopped while a fetch that ignores the signal is pending, it never opens the response", async () => {
  const seen: string[] = [];
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      fetch: deafFetch(seen, 20),
      onOpen: () => seen.push("open"),
    },
    {},
  );
  subscription();
  assert.deepEqual(await settled(subscription.done), { reason: "aborted" });
  await new Promise((resolve) => setTimeout(resolve, 40)); // the response arrives after the stop
  assert.deepEqual(seen, ["fetch", "cancelled"]);
});

/** A body that sends `text` at once, then nothing, never ending; `seen` notes its reads and its cancellation. */
function stalled(text: string, seen: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
    },
    pull: () => {
      seen.push("waiting");
      return new Promise<void>(() => undefined);
    },
    cancel: () => {
      seen.push("cancelled");
    },
  });
}

// An error page or another media type whose body stays open (a proxy's, a server still warming up) fails
// the subscription with what its body sent so far: reading it to its end or to 64 KiB waited forever.
for (const [status, contentType, message] of [
  [500, "text/plain", "GET /echo: HTTP 500"],
  [200, "application/x-ndjson", "GET /echo: expected text/event-stream, got application/x-ndjson"],
] as const) {
  test(`subscribe: a ${status} ${contentType} response whose body stays open fails promptly`, async () => {
    const seen: string[] = [];
    const subscription = subscribe(
      "/echo",
      {
        baseUrl: "http://127.0.0.1:9",
        query: { message: "hi" },
        fetch: (async () =>
          new Response(stalled('{"status": "warming up"}\n', seen), {
            status,
            headers: { "content-type": contentType },
          })) as typeof fetch,
        onError: (error) => seen.push(`onError ${(error as Error).message}`),
      },
      {},
    );
    const end = await settled(subscription.done.catch((error: unknown) => error));
    if (end === "still running") subscription();
    assert.ok(end instanceof SubscribeError, String(end));
    assert.equal(end.message, message);
    assert.equal(end.status, status);
    assert.equal(end.body, '{"status": "warming up"}\n');
    assert.deepEqual(seen, ["waiting", "cancelled", `onError ${message}`]);
  });
}

// EventSource fails the connection on any status but 200 (and gives up on a 204): for a route the document streams
// with 200, another 2xx is no event stream to read or to reconnect to, whatever its body holds.
// Options answering every fetch with `body` and `status`, recording what the client does in `seen`.
function scripted(status: number, body: string, seen: string[]) {
  return {
    baseUrl: "http://127.0.0.1:9",
    retry: 1,
    fetch: (async () => {
      seen.push("fetch");
      return new Response(body, { status, headers: { "content-type": "text/event-stream" } });
    }) as typeof fetch,
    onOpen: () => seen.push("open"),
    onRetry: () => seen.push("retry"),
  };
}

// A subscription that failed on its first answer: one fetch, no event handled, no reconnection.
async function assertFailedOnce(
  subscription: { (): void; done: Promise<unknown> },
  errorClass: new (...args: never[]) => { message: string; status: number | undefined; body: string | undefined },
  expected: { message: string; status: number; body: string },
  seen: string[],
): Promise<void> {
  const end = await settled(subscription.done.catch((error: unknown) => error));
  if (end === "still running") subscription();
  assert.ok(end instanceof errorClass, String(end));
  assert.equal(end.message, expected.message);
  assert.equal(end.status, expected.status);
  assert.equal(end.body, expected.body);
  assert.deepEqual(seen, ["fetch"]);
}

// Another 2xx, or an HTTP error other than a proxy's or a server's unavailability, on a route that reconnects too.
for (const status of [201, 202, 206, 401, 403, 404, 422, 500]) {
  test(`subscribe: a ${status} response fails without handling its events or reconnecting`, async () => {
    const events = 'event: echo\nid: 1\ndata: {"message":"hi","created_at":"2026-01-01T00:00:00Z"}\n\n';
    const seen: string[] = [];
    const subscription = subscribe(
      "/echo",
      { ...scripted(status, events, seen), query: { message: "hi" } },
      { echo: (e) => seen.push(`echo ${e.id}`) },
    );
    await assertFailedOnce(subscription, SubscribeError, { message: `GET /echo: HTTP ${status}`, status, body: events }, seen);
  });
}

// POST /notes is `@sse(status_code=201)`: the document says its stream succeeds with 201, and the client reads it
// from a 201, and from nothing else but a 204.
const notes = 'event: line\nid: n-1\ndata: created\n\nevent: nothing\ndata: null\n\n';

test("subscribe: a route the document streams with 201 reads the events of a 201", async () => {
  const seen: unknown[] = [];
  const subscription = features.subscribe(
    "/notes",
    {
      baseUrl: "http://127.0.0.1:9",
      fetch: (async () => new Response(notes, { status: 201, headers: { "content-type": "text/event-stream" } })) as typeof fetch,
      onOpen: (response) => seen.push(`open ${response.status}`),
    },
    { line: (e) => seen.push([e.event, e.id, e.data]), nothing: (e) => seen.push([e.event, e.id, e.data]) },
  );
  assert.deepEqual(await settled(subscription.done), { reason: "closed" });
  assert.deepEqual(seen, ["open 201", ["line", "n-1", "created"], ["nothing", "n-1", null]]);
});

for (const status of [200, 202]) {
  test(`subscribe: a route the document streams with 201 fails on a ${status}, without reading it or reconnecting`, async () => {
    const seen: string[] = [];
    const subscription = features.subscribe(
      "/notes",
      { ...scripted(status, notes, seen), reconnect: true },
      { line: (e) => seen.push(`line ${e.id}`) },
    );
    await assertFailedOnce(
      subscription,
      features.SubscribeError,
      { message: `POST /notes: HTTP ${status}`, status, body: notes },
      seen,
    );
  });
}

test("subscribe: a route the document streams with 201 ends on a 204, with nothing more to send", async () => {
  const subscription = features.subscribe(
    "/notes",
    { baseUrl: "http://127.0.0.1:9", fetch: (async () => new Response(null, { status: 204 })) as typeof fetch },
    {},
  );
  assert.deepEqual(await settled(subscription.done), { reason: "no-content" });
});

/** A `fetch` answering each request with the next of `replies`, then a 204; `seen` notes each request. */
function replying(replies: Response[], seen: string[] = []): typeof fetch {
  return (async () => {
    seen.push("fetch");
    return replies.shift() ?? new Response(null, { status: 204 });
  }) as typeof fetch;
}

function unavailable(status: number, retryAfter?: string): Response {
  const headers: { [name: string]: string } = { "content-type": "text/plain" };
  if (retryAfter !== undefined) headers["retry-after"] = retryAfter;
  return new Response(`HTTP ${status}`, { status, headers });
}

test("subscribe: a route that resumes retries a 429, 502, 503 and 504, the first request too, backing off", async () => {
  const events = 'event: echo\nid: 1\ndata: {"message":"hi","created_at":"2026-01-01T00:00:00Z"}\n\n';
  const past = new Date(Date.now() - 60_000).toUTCString();
  const replies = [
    unavailable(502),
    unavailable(503, "0"),
    unavailable(429, past),
    unavailable(504, "soon"), // not a Retry-After: ignored
    new Response(events, { status: 200, headers: { "content-type": "text/event-stream" } }),
  ];
  const retries: unknown[] = [];
  const ids: (string | undefined)[] = [];
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      retry: 1,
      fetch: replying(replies),
      onRetry: ({ delay, attempt, error }) => {
        const failure = error instanceof SubscribeError ? [error.status, error.retryAfter, error.body] : [error];
        retries.push([attempt, delay, ...failure]);
      },
    },
    { echo: (e) => ids.push(e.id) },
  );
  assert.deepEqual(await settled(subscription.done), { reason: "no-content" });
  assert.deepEqual(ids, ["1"]);
  assert.deepEqual(retries, [
    [1, 1, 502, undefined, "HTTP 502"],
    [2, 2, 503, 0, "HTTP 503"],
    [3, 4, 429, 0, "HTTP 429"],
    [4, 8, 504, undefined, "HTTP 504"],
    [5, 1, undefined], // the stream ended: reconnected after the server's delay, to its 204
  ]);
});

// The delay of the attempt after such an answer: the backoff's, or the server's `Retry-After` when longer, even past
// `maxRetry` (coming back sooner would be refused again), but 10 minutes at most, or `maxRetry` if longer.
for (const [retryAfter, maxRetry, expected] of [
  ["2", undefined, 3000], // the first delay, 3 s, is longer
  ["120", undefined, 120_000],
  ["86400", undefined, 600_000],
  ["86400", 900_000, 900_000],
  ["1200", 900_000, 900_000],
] as const) {
  test(`subscribe: Retry-After ${retryAfter} with maxRetry ${maxRetry} waits ${expected} ms`, async () => {
    const delays: number[] = [];
    const subscription = subscribe(
      "/echo",
      {
        baseUrl: "http://127.0.0.1:9",
        query: { message: "hi" },
        maxRetry,
        fetch: replying([unavailable(503, retryAfter)]),
        onRetry: ({ delay }) => {
          delays.push(delay);
          subscription();
        },
      },
      {},
    );
    assert.deepEqual(await settled(subscription.done), { reason: "aborted" });
    assert.deepEqual(delays, [expected]);
  });
}

test("subscribe: Retry-After as an HTTP date waits until then", async () => {
  const delays: number[] = [];
  const date = new Date(Date.now() + 120_000).toUTCString(); // whole seconds: up to a second sooner
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      fetch: replying([unavailable(502, date)]),
      onRetry: ({ delay }) => {
        delays.push(delay);
        subscription();
      },
    },
    {},
  );
  assert.deepEqual(await settled(subscription.done), { reason: "aborted" });
  assert.equal(delays.length, 1);
  assert.ok(delays[0] !== undefined && delays[0] > 115_000 && delays[0] <= 120_000, String(delays));
});

// A subscription that does not reconnect fails on the first such answer, with the server's delay for the app.
async function assertUnavailableOnce(subscription: { (): void; done: Promise<unknown> }, seen: string[]): Promise<void> {
  const end = await settled(subscription.done.catch((error: unknown) => error));
  if (end === "still running") subscription();
  assert.ok(end instanceof SubscribeError || end instanceof features.SubscribeError, String(end));
  assert.equal(end.status, 503);
  assert.equal(end.retryAfter, 5000);
  assert.deepEqual(seen, ["fetch"]);
}

test("subscribe: a route that resumes, told not to reconnect, fails at once on a 503, giving its Retry-After", async () => {
  const seen: string[] = [];
  const subscription = subscribe(
    "/echo",
    { baseUrl: "http://127.0.0.1:9", query: { message: "hi" }, reconnect: false, fetch: replying([unavailable(503, "5")], seen) },
    {},
  );
  await assertUnavailableOnce(subscription, seen);
});

test("subscribe: a route that does not resume fails at once on a 503, giving its Retry-After", async () => {
  const seen: string[] = [];
  const subscription = features.subscribe(
    "/notes",
    { baseUrl: "http://127.0.0.1:9", fetch: replying([unavailable(503, "5")], seen) },
    {},
  );
  await assertUnavailableOnce(subscription, seen);
});

test("subscribe: credentials, the client's or a subscription's, go to every request", async () => {
  const sent: unknown[] = [];
  const fetching = (async (_url: string | URL | Request, init?: RequestInit) => {
    sent.push(init !== undefined && "credentials" in init ? init.credentials : "not given");
    return new Response(null, { status: 204 });
  }) as typeof fetch;
  const client = createClient({ baseUrl: "http://127.0.0.1:9", fetch: fetching, credentials: "include" });
  const query = { message: "hi" };
  await client.subscribe("/echo", { query }, {}).done;
  await client.subscribe("/echo", { query, credentials: "omit" }, {}).done;
  await subscribe("/echo", { baseUrl: "http://127.0.0.1:9", fetch: fetching, query }, {}).done;
  assert.deepEqual(sent, ["include", "omit", "not given"]);
});

/** A promise, and the function resolving it. */
function deferred<T>(): [Promise<T>, (value: T) => void] {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return [promise, resolve];
}

test("subscribe: stopped while a fetch that ignores the signal is still connecting, it ends at once", async () => {
  const [response, respond] = deferred<Response>();
  const [cancelled, cancel] = deferred<string>();
  const subscription = subscribe(
    "/echo",
    { baseUrl: "http://127.0.0.1:9", query: { message: "hi" }, fetch: (() => response) as typeof fetch },
    {},
  );
  subscription();
  assert.deepEqual(await settled(subscription.done), { reason: "aborted" }); // the server has not answered yet
  // When it does, the response is cancelled unread.
  const body = new ReadableStream<Uint8Array>({ cancel: () => cancel("cancelled") });
  respond(new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } }));
  assert.equal(await settled(cancelled), "cancelled");
});

test("subscribe: stopped while an error's body is read through a fetch that ignores the signal, it ends at once", async () => {
  const seen: string[] = [];
  const [waiting, wait] = deferred<void>();
  const errors: unknown[] = [];
  const body = stalled("slow", seen);
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      fetch: (async () => {
        setTimeout(wait, 10); // by then the error's body is being read: its first chunk has been taken
        return new Response(body, { status: 500 });
      }) as typeof fetch,
      onError: (error) => errors.push(error),
    },
    {},
  );
  await waiting;
  assert.deepEqual(seen, ["waiting"]);
  subscription();
  // At once: well before the second the runtime would otherwise read such a body for.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), 500);
  });
  const end = await Promise.race([subscription.done, late]);
  clearTimeout(timer);
  assert.deepEqual(end, { reason: "aborted" });
  assert.deepEqual(seen, ["waiting", "cancelled"]);
  assert.deepEqual(errors, []);
});

test("subscribe: an async handler that rejects ends it as a throwing one does, leaving no rejection unhandled", async () => {
  const unhandled: unknown[] = [];
  const note = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on("unhandledRejection", note);
  const echo = (id: string): string =>
    `event: echo\nid: ${id}\ndata: {"message":"hi","created_at":"2026-01-01T00:00:00Z"}\n\n`;
  const [cancelled, cancel] = deferred<string>();
  // Two events in one chunk, then a stream that stays open: only the handler's failure can end it.
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => controller.enqueue(new TextEncoder().encode(echo("1") + echo("2"))),
    cancel: () => cancel("cancelled"),
  });
  const handled: (string | undefined)[] = [];
  const errors: unknown[] = [];
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      fetch: (async () => new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } })) as typeof fetch,
      onError: (error) => errors.push(error),
    },
    {
      echo: async (e) => {
        handled.push(e.id);
        throw new Error(`cannot store ${e.id ?? ""}`);
      },
    },
  );
  const end = await settled(subscription.done.catch((error: unknown) => error));
  if (end === "still running") subscription();
  assert.ok(end instanceof Error, String(end));
  assert.equal(end.message, "cannot store 1");
  assert.deepEqual(errors, [end]);
  assert.equal(await settled(cancelled), "cancelled");
  assert.deepEqual(handled, ["1", "2"]); // called in the same chunk, before the first one's rejection arrived
  await new Promise((resolve) => setTimeout(resolve, 10)); // Node reports unhandled rejections after the microtasks
  process.off("unhandledRejection", note);
  assert.deepEqual(unhandled, []);
});

test("subscribe: many subscriptions sharing one signal all end when it aborts, without a listener leak warning", async () => {
  const warnings: string[] = [];
  const note = (warning: Error): void => {
    warnings.push(`${warning.name}: ${warning.message}`);
  };
  process.on("warning", note);
  const controller = new AbortController();
  const opened: string[] = [];
  const subscriptions = Array.from({ length: 50 }, () =>
    subscribe(
      "/echo",
      { baseUrl: "http://127.0.0.1:9", query: { message: "hi" }, fetch: deafFetch(opened), signal: controller.signal },
      {},
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 10));
  controller.abort();
  const ends = await Promise.all(subscriptions.map((subscription) => settled(subscription.done)));
  await new Promise((resolve) => setTimeout(resolve, 10)); // Node emits its warnings on a later tick
  process.off("warning", note);
  assert.deepEqual(ends, Array.from({ length: 50 }, () => ({ reason: "aborted" })));
  assert.deepEqual(warnings, []);
});

test("subscribe: each attempt gets a signal of its own, which reconnections add no abort listeners to", async () => {
  // A `Request` built on a signal follows it with an abort listener, dropped only once the request is garbage
  // collected: these are kept, as a long-lived process may keep them, so that one signal for every attempt
  // would count one more listener per reconnection (Node warns past 1500, a day of reconnections each minute).
  const requests: Request[] = [];
  const listeners: number[] = [];
  const event = 'event: echo\ndata: {"message":"hi","created_at":"2026-01-01T00:00:00Z"}';
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      fetch: (async (url: string | URL | Request, init?: RequestInit) => {
        const request = new Request(url, init);
        requests.push(request);
        listeners.push(init?.signal == null ? -1 : getEventListeners(init.signal, "abort").length);
        if (requests.length > 5) return new Response(null, { status: 204 });
        const body = `retry: 0\nid: ${requests.length}\n${event}\n\n`;
        return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
      }) as typeof fetch,
    },
    {},
  );
  assert.deepEqual(await settled(subscription.done), { reason: "no-content" });
  assert.deepEqual(listeners, [1, 1, 1, 1, 1, 1]);
});

test("subscribe: handlers that are an object's methods or a class instance's are called on that object", async () => {
  // The types take both; `this` in an object literal's method is typed as that object.
  class View {
    readonly seen: string[] = [];
    echo(e: Echo): void {
      this.seen.push(`view ${e.data.message}`);
    }
  }
  const view = new View();
  const literal = {
    seen: [] as string[],
    reverse_echo(e: ReverseEcho): void {
      this.seen.push(`literal ${e.data.message}`);
    },
  };
  for (const handlers of [view, literal]) {
    const replies = [
      new Response(
        'event: echo\ndata: {"message":"hi","created_at":"2026-01-01T00:00:00Z"}\n\n' +
          'event: reverse_echo\ndata: {"message":"ih","created_at":"2026-01-01T00:00:00Z"}\n\n',
        { status: 200, headers: { "content-type": "text/event-stream" } },
      ),
    ];
    const subscription = subscribe(
      "/echo",
      {
        baseUrl: "http://127.0.0.1:9",
        query: { message: "hi" },
        reconnect: false,
        fetch: (async () => replies.shift() ?? new Response(null, { status: 204 })) as typeof fetch,
      },
      handlers,
    );
    assert.deepEqual(await settled(subscription.done), { reason: "closed" });
  }
  assert.deepEqual([view.seen, literal.seen], [["view hi"], ["literal ih"]]);
});

test("subscribe: an async onRetry that rejects ends it, and an async onError's rejection is ignored, leaving none unhandled", async () => {
  const unhandled: unknown[] = [];
  const note = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on("unhandledRejection", note);
  // The server's delay is long: only the rejection can end the wait.
  const replies = [new Response("retry: 30000\n\n", { status: 200, headers: { "content-type": "text/event-stream" } })];
  const reported: unknown[] = [];
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      fetch: (async () => replies.shift() ?? new Response(null, { status: 204 })) as typeof fetch,
      onRetry: async ({ attempt }) => {
        throw new Error(`cannot reconnect ${attempt}`);
      },
      onError: async (error) => {
        reported.push(error);
        throw new Error("cannot report it");
      },
    },
    {},
  );
  const end = await settled(subscription.done.catch((error: unknown) => error));
  if (end === "still running") subscription();
  assert.ok(end instanceof Error, String(end));
  assert.equal(end.message, "cannot reconnect 1");
  assert.deepEqual(reported, [end]); // `done` rejects with what onError was given, not with onError's own failure
  await new Promise((resolve) => setTimeout(resolve, 10)); // Node reports unhandled rejections after the microtasks
  process.off("unhandledRejection", note);
  assert.deepEqual(unhandled, []);
});

test("subscribe: an onError that throws leaves done rejecting with the failure it was given", async () => {
  const reported: unknown[] = [];
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      fetch: (async () => new Response("boom", { status: 500 })) as typeof fetch,
      onError: (error) => {
        reported.push(error);
        throw new Error("cannot report it");
      },
    },
    {},
  );
  const end = await settled(subscription.done.catch((error: unknown) => error));
  assert.ok(end instanceof SubscribeError, String(end));
  assert.equal(end.message, "GET /echo: HTTP 500");
  assert.deepEqual(reported, [end]);
});

// A headers function failing on the reconnection: its token cannot be had, and the request would fail without it.
for (const [how, failing] of [
  [
    "throws",
    (): never => {
      throw new Error("no token");
    },
  ],
  ["rejects", async (): Promise<never> => Promise.reject(new Error("no token"))],
] as const) {
  test(`subscribe: a headers function that ${how} ends it with its error, after onError, without reconnecting`, async () => {
    const sent: (string | null)[] = [];
    const errors: unknown[] = [];
    let calls = 0;
    const subscription = subscribe(
      "/echo",
      {
        baseUrl: "http://127.0.0.1:9",
        query: { message: "hi" },
        headers: () => {
          calls += 1;
          return calls === 1 ? { Authorization: "Bearer 1" } : failing();
        },
        fetch: (async (_url: string, init?: RequestInit) => {
          sent.push(new Headers(init?.headers).get("authorization"));
          return new Response("retry: 1\n\n", { status: 200, headers: { "content-type": "text/event-stream" } });
        }) as typeof fetch,
        onError: (error) => errors.push(error),
      },
      {},
    );
    const end = await settled(subscription.done.catch((error: unknown) => error));
    if (end === "still running") subscription();
    assert.ok(end instanceof Error, String(end));
    assert.equal(end.message, "no token");
    assert.deepEqual(errors, [end]);
    assert.deepEqual(sent, ["Bearer 1"]);
    assert.equal(calls, 2);
  });
}

for (const how of ["stopped", "its signal aborted"] as const) {
  test(`subscribe: ${how} while a headers function is pending, it ends at once, sending nothing`, async () => {
    const unhandled: unknown[] = [];
    const note = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on("unhandledRejection", note);
    const controller = new AbortController();
    const fetched: string[] = [];
    const [asked, ask] = deferred<void>();
    const subscription = subscribe(
      "/echo",
      {
        baseUrl: "http://127.0.0.1:9",
        query: { message: "hi" },
        signal: controller.signal,
        // A token that comes long after: its late rejection, after the end, goes nowhere.
        headers: () => {
          ask();
          return new Promise<never>((_, reject) => setTimeout(() => reject(new Error("too late")), 50));
        },
        fetch: (async () => {
          fetched.push("fetch");
          return new Response(null, { status: 204 });
        }) as typeof fetch,
      },
      {},
    );
    await asked;
    if (how === "stopped") subscription();
    else controller.abort();
    assert.deepEqual(await settled(subscription.done), { reason: "aborted" });
    await new Promise((resolve) => setTimeout(resolve, 60));
    process.off("unhandledRejection", note);
    assert.deepEqual(fetched, []);
    assert.deepEqual(unhandled, []);
  });
}
