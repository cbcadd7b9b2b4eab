// The runtime's edge cases against the features app of tests/test_typescript.py, mounted at /features.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as features from "./features.js";

const base = process.env["TYPEDSSE_BASE_URL"];
if (base === undefined) throw new Error("TYPEDSSE_BASE_URL must be the URL of the features server");
const client = features.createClient({ baseUrl: `${base}/features`, headers: { Authorization: "Bearer s3cret" } });

test("features: headers, path parameters, recursive and text and null payloads, UTF-8 ids, the error event", async () => {
  const log: unknown[] = [];
  const retries: number[] = [];
  const subscription = client.subscribe(
    "/rooms/{room}",
    {
      method: "GET",
      params: { room: 7 },
      query: { tags: ["a", "b"] },
      headers: { "x-token": "t0k" },
      onRetry: ({ delay }) => retries.push(delay),
    },
    {
      grown: (e) => log.push([e.event, e.id, e.data.name, e.data.children?.map((child) => child.name)]),
      line: (e) => log.push([e.event, e.id, e.data]),
      ratio: (e) => log.push([e.event, e.id, e.data * 2]),
      nothing: (e) => log.push([e.event, e.id, e.data]),
      "typedsse.error": (e) => log.push([e.event, e.id, e.data.code]),
    },
  );
  const end = await subscription.done;
  assert.deepEqual(end, { reason: "event", event: { event: "typedsse.error", id: "after ü-2", data: { message: "The stream failed.", code: "internal_error" } } });
  assert.deepEqual(log, [
    ["grown", "ü-1", "room 7", ["a", "b"]],
    // Raw text lines: the CRLF the server wrote comes back as LF, as the SSE spec says.
    ["line", "ü-2", "token t0k\nBearer s3cret"],
    ["ratio", "after ü-2", 1],
    ["nothing", "after ü-2", null], // an event without an id keeps the last one, as EventSource does
    ["typedsse.error", "after ü-2", "internal_error"],
  ]);
  assert.deepEqual(retries, [100]);
});

test("features: a POST body with aliases, unions, tuples and extra keys comes back typed", async () => {
  const pets: features.Pet_Output[] = [];
  const body: features.Pet = {
    pet: { kind: "cat", lives: 9 },
    either: "seven",
    pair: [1, "one"],
    many: [0.5],
    class: "mammal",
    "with-dash": "yes",
    tree: { name: "root", children: [{ name: "leaf" }] },
    color: "green",
    favourite: "tuna",
  };
  const subscription = client.subscribe("/rooms/{room}", { method: "POST", params: { room: 3 }, body }, {
    "pet.petted": (e) => {
      assert.equal(e.id, "3");
      if (e.data.pet.kind === "cat") assert.equal(e.data.pet.lives, 9);
      pets.push(e.data);
    },
  });
  assert.deepEqual(await subscription.done, { reason: "closed" });
  assert.deepEqual(pets, [
    {
      pet: { kind: "cat", lives: 9 },
      either: "seven",
      pair: [1, "one"],
      many: [0.5],
      scores: {},
      color: "green",
      when: null,
      nickname: null,
      class: "mammal",
      "with-dash": "yes",
      problem: null,
      tree: { name: "root", children: [{ name: "leaf", children: [] }] },
      favourite: "tuna",
      legs: 4,
    },
  ]);
});

test("features: a stream the server sends with 201, as @sse(status_code=201) and the document say, is read", async () => {
  const log: unknown[] = [];
  const subscription = client.subscribe(
    "/notes",
    { onOpen: (response) => log.push(["open", response.status]) },
    {
      line: (e) => log.push([e.event, e.id, e.data]),
      nothing: (e) => log.push([e.event, e.id, e.data]),
    },
  );
  assert.deepEqual(await subscription.done, { reason: "closed" });
  assert.deepEqual(log, [
    ["open", 201],
    ["line", "n-1", "created"],
    ["nothing", "n-1", null],
  ]);
});

test("features: a path with several streaming methods needs the method option", () => {
  const options = { params: { room: 1 }, headers: { "x-token": "t" } };
  // The types require `method` here; the runtime says why if a cast gets around them.
  assert.throws(() => client.subscribe("/rooms/{room}", options as never, {}), {
    name: "TypeError",
    message: "/rooms/{room} streams with GET and POST: choose one with the `method` option",
  });
});

test("features: outside a browser, a relative URL fails at once", () => {
  const options = { method: "GET", params: { room: 1 }, headers: { "x-token": "t" } } as const;
  assert.throws(() => features.subscribe("/rooms/{room}", options, {}), {
    name: "TypeError",
    message: "/rooms/1 is a relative URL: outside a browser, give the server's address as `baseUrl`",
  });
});

test("features: a path parameter that a URL reads as a dot segment fails at once", () => {
  // `/rooms/..` would be sent as `/` (and `/rooms/.` as `/rooms/`), another route's stream. This
  // route's `room` is a number; a `str` path parameter takes any text, these two included.
  for (const text of [".", ".."]) {
    const room = text as never;
    const message = `path parameter room cannot be ${JSON.stringify(text)}: a URL reads it as a step up or in place, not as a segment`;
    const options = { method: "GET", params: { room }, headers: { "x-token": "t" } } as const;
    assert.throws(() => client.subscribe("/rooms/{room}", options, {}), { name: "TypeError", message });
    assert.throws(() => features.eventSourceUrl("/rooms/{room}", { params: { room } }), { name: "TypeError", message });
  }
  assert.equal(features.eventSourceUrl("/rooms/{room}", { params: { room: "..." as never } }), "/rooms/...");
  assert.equal(features.eventSourceUrl("/rooms/{room}", { params: { room: "a/.." as never } }), "/rooms/a%2F..");
});

test("features: events the module does not know are ignored, even when named like Object.prototype's members", async () => {
  const stream = ["constructor", "toString", "__proto__", "__defineGetter__", "nothing"]
    .map((name) => `event: ${name}\ndata: null\n\n`)
    .join("");
  const fakeFetch = async (): Promise<Response> =>
    new Response(stream, { headers: { "content-type": "text/event-stream" } });
  const log: unknown[] = [];
  const subscription = client.subscribe(
    "/rooms/{room}",
    { method: "GET", params: { room: 1 }, headers: { "x-token": "t" }, fetch: fakeFetch, reconnect: false },
    { nothing: (e) => log.push([e.event, e.data]) },
  );
  assert.deepEqual(await subscription.done, { reason: "closed" });
  assert.deepEqual(log, [["nothing", null]]);
});

test("features: a request that can never be sent fails at once, before any attempt to send it", () => {
  const requests: string[] = [];
  const counting = (async (url: string | URL | Request) => {
    requests.push(String(url));
    return new Response(null, { status: 204 });
  }) as typeof fetch;
  const room = { method: "GET", params: { room: 1 }, fetch: counting } as const;
  // Each was retried as a network failure, again and again, or reported as "the connection failed".
  assert.throws(() => client.subscribe("/rooms/{room}", { ...room, headers: { "x-token": "line\nbreak" } }, {}), {
    name: "TypeError",
    message: 'the header x-token cannot be sent: its value "line\\nbreak" holds a line break or a NUL inside it, or a character past U+00FF',
  });
  assert.throws(() => client.subscribe("/rooms/{room}", { ...room, headers: { "x-token": "t€k" } }, {}), {
    name: "TypeError",
    message: 'the header x-token cannot be sent: its value "t€k" holds a line break or a NUL inside it, or a character past U+00FF',
  });
  assert.throws(
    () => client.subscribe("/rooms/{room}", { ...room, headers: { "x-token": "t", "x trace": "1" } }, {}),
    { name: "TypeError", message: '"x trace" is not a header name' },
  );
  assert.throws(
    () => client.subscribe("/rooms/{room}", { ...room, headers: { "x-token": "t" }, lastEventId: "saved\rid" }, {}),
    { name: "TypeError", message: 'lastEventId "saved\\rid" cannot be sent as Last-Event-ID: it holds a line break or a NUL' },
  );
  assert.throws(
    () =>
      features.subscribe(
        "/rooms/{room}",
        { ...room, baseUrl: "http://127.0.0.1:99999", headers: { "x-token": "t" } },
        {},
      ),
    { name: "TypeError", message: "http://127.0.0.1:99999/rooms/1 is not a valid URL" },
  );
  assert.throws(
    () =>
      features.subscribe(
        "/rooms/{room}",
        { ...room, baseUrl: "http://user:secret@127.0.0.1:8000", headers: { "x-token": "t" } },
        {},
      ),
    {
      name: "TypeError",
      message: "http://user:secret@127.0.0.1:8000/rooms/1 holds credentials, which fetch refuses in a URL: send them in a header",
    },
  );
  // A body for a route that takes none (an untyped caller) is refused, not sent.
  assert.throws(
    () => client.subscribe("/rooms/{room}", { ...room, headers: { "x-token": "t" }, body: { q: 1 } as never }, {}),
    { name: "TypeError", message: "GET /rooms/{room} takes no request body" },
  );
  const body: features.Pet = { pet: { kind: "dog" }, either: 1, pair: [1, "one"], many: [], class: "c", count: 10n };
  assert.throws(
    () => client.subscribe("/rooms/{room}", { method: "POST", params: { room: 1 }, body, fetch: counting }, {}),
    { name: "TypeError", message: "the body of POST /rooms/{room} cannot be sent as JSON: Do not know how to serialize a BigInt" },
  );
  assert.deepEqual(requests, []);
});

test("features: a header value is trimmed at both ends, as fetch trims it", async () => {
  // A token read from a file keeps its final newline: fetch sends it without, and so must the check.
  const sent: string[] = [];
  const recording = (async (_url: string | URL | Request, init?: RequestInit) => {
    sent.push(new Headers(init?.headers).get("x-token") ?? "");
    return new Response(null, { status: 204 });
  }) as typeof fetch;
  const subscription = client.subscribe(
    "/rooms/{room}",
    { method: "GET", params: { room: 1 }, headers: { "x-token": "\tBearer tok\r\n" }, fetch: recording },
    {},
  );
  assert.deepEqual(await subscription.done, { reason: "no-content" });
  assert.deepEqual(sent, ["Bearer tok"]);
});

test("features: an HTTP error or another media type whose body stays open fails promptly", async () => {
  // The server sends one line, then keeps the body open for longer than the test runs.
  const stalled = features.createClient({ baseUrl: `${base}/stalled` });
  for (const [room, message, status] of [
    [1, "GET /rooms/{room}: expected text/event-stream, got application/x-ndjson", 200],
    [2, "GET /rooms/{room}: HTTP 500", 500],
  ] as const) {
    const errors: unknown[] = [];
    const subscription = stalled.subscribe(
      "/rooms/{room}",
      { method: "GET", params: { room }, headers: { "x-token": "t" }, onError: (error) => errors.push(error) },
      {},
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<"still running">((resolve) => {
      timer = setTimeout(() => resolve("still running"), 10_000);
    });
    const end = await Promise.race([subscription.done.catch((error: unknown) => error), bound]);
    clearTimeout(timer);
    if (end === "still running") subscription();
    assert.ok(end instanceof features.SubscribeError, String(end));
    assert.equal(end.message, message);
    assert.equal(end.status, status);
    assert.equal(end.body, '{"status": "warming up"}\n');
    assert.deepEqual(errors, [end]);
  }
});

test("features: headers given by functions are asked for again on each attempt, so a reconnection sends a fresh token", async () => {
  let tokens = 0;
  const renewing = features.createClient({
    baseUrl: `${base}/features`,
    // An async function, as one asking a server for a new token is: a token expires while the stream is open.
    headers: async () => {
      tokens += 1;
      await new Promise((resolve) => setTimeout(resolve, 1));
      return { Authorization: `Bearer token-${tokens}` };
    },
  });
  const lines: string[] = [];
  // The subscription's function is called after the client's, for the same attempt.
  const subscription = renewing.subscribe(
    "/rooms/{room}",
    { method: "GET", params: { room: 8 }, headers: () => ({ "x-token": `t${tokens}` }) },
    { line: (e) => lines.push(e.data) },
  );
  const end = await subscription.done;
  assert.equal(end.reason, "event"); // the resumed response's error event: both attempts were sent
  assert.deepEqual(lines, ["token t1\nBearer token-1"]);
  assert.equal(tokens, 2); // the server saw the second token on the reconnection (tests/test_typescript.py checks)
});
