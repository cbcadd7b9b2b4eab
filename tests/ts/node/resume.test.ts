// The runtime's resuming from a given `lastEventId`, against a scripted `fetch` (no server).
import assert from "node:assert/strict";
import { test } from "node:test";

import { EventStreamParser, subscribe } from "./echo.js";

function eventStream(text: string): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
      controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
}

test("resume: a given lastEventId outlives blank lines without an id, and is sent on reconnection", async () => {
  const sent: (string | null)[] = [];
  const seen: string[] = [];
  const replies = [eventStream("retry: 10\n\n:\n\n"), new Response(null, { status: 204 })];
  const scripted = async (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    sent.push(new Headers(init?.headers).get("last-event-id"));
    const reply = replies.shift();
    if (reply === undefined) throw new Error("no more replies");
    return reply;
  };
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      lastEventId: "41",
      fetch: scripted as typeof fetch,
      onRetry: () => seen.push(subscription.lastEventId),
    },
    {},
  );
  assert.equal(subscription.lastEventId, "41");
  assert.deepEqual(await subscription.done, { reason: "no-content" });
  assert.deepEqual(sent, ["41", "41"]);
  assert.deepEqual(seen, ["41"]);
  assert.equal(subscription.lastEventId, "41");
});

test("resume: setting the parser's lastEventId sets the id buffer, as a reconnecting EventSource has it", () => {
  const parser = new EventStreamParser();
  parser.lastEventId = "41";
  assert.deepEqual(parser.feed("retry: 10\n\n:\n\n"), []);
  assert.equal(parser.lastEventId, "41");
  assert.deepEqual(parser.feed("data: x\n\n"), [{ event: "message", data: "x", id: "41" }]);
  assert.deepEqual(parser.feed("id\n\n"), []);
  assert.equal(parser.lastEventId, "");
});

/** An `echo` (or `reverse_echo`) event with this id, as the server writes it. */
function echoEvent(id: string, name = "echo"): string {
  return `event: ${name}\nid: ${id}\ndata: {"message":"hi","created_at":"2026-01-01T00:00:00Z"}\n\n`;
}

/** A `fetch` answering with `replies` in turn (then 204), noting the `Last-Event-ID` of every request. */
function scriptedFetch(replies: Response[], sent: (string | null)[]): typeof fetch {
  return (async (_url: string | URL | Request, init?: RequestInit) => {
    sent.push(new Headers(init?.headers).get("last-event-id"));
    return replies.shift() ?? new Response(null, { status: 204 });
  }) as typeof fetch;
}

// Events 1, 2 and 3 arrive in one chunk, and the subscription ends while event 1 is handled: its
// lastEventId is 1, so that a subscription resumed from it receives 2 and 3 (it said 3).
const first = { event: "reverse_echo", id: "1", data: { message: "hi", created_at: "2026-01-01T00:00:00Z" } };
for (const [how, expected] of [
  ["is stopped from its handler", { reason: "aborted" }],
  ["has a handler that throws", "handler failed"],
  ["is a terminal event", { reason: "event", event: first }],
] as const) {
  test(`resume: when the first of the events in a chunk ${how}, lastEventId is that event's id`, async () => {
    const handled: (string | undefined)[] = [];
    const sent: (string | null)[] = [];
    const name = how === "is a terminal event" ? "reverse_echo" : "echo";
    const chunk = echoEvent("1", name) + echoEvent("2") + echoEvent("3");
    const subscription = subscribe(
      "/echo",
      {
        baseUrl: "http://127.0.0.1:9",
        query: { message: "hi" },
        fetch: scriptedFetch([eventStream(chunk)], sent),
        until: how === "is a terminal event" ? ["reverse_echo"] : [],
      },
      {
        echo: (e) => {
          handled.push(e.id);
          if (how === "is stopped from its handler") subscription();
          if (how === "has a handler that throws") throw new Error("handler failed");
        },
        reverse_echo: (e) => handled.push(e.id),
      },
    );
    const end = await subscription.done.catch((error: unknown) => (error as Error).message);
    assert.deepEqual(end, expected);
    assert.deepEqual(handled, ["1"]);
    assert.equal(subscription.lastEventId, "1");
    assert.deepEqual(sent, [null]);
  });
}

test("resume: after a chunk is handled, lastEventId is its last id, from a frame without data too, and is sent on reconnection", async () => {
  const sent: (string | null)[] = [];
  const seen: string[] = [];
  const replies = [eventStream(echoEvent("1") + echoEvent("2") + "id: 3\n\n"), eventStream(echoEvent("4"))];
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: "http://127.0.0.1:9",
      query: { message: "hi" },
      retry: 1,
      fetch: scriptedFetch(replies, sent),
      onRetry: () => seen.push(subscription.lastEventId),
    },
    { echo: (e) => seen.push(`${e.id} ${subscription.lastEventId}`) },
  );
  assert.deepEqual(await subscription.done, { reason: "no-content" });
  assert.deepEqual(seen, ["1 1", "2 2", "3", "4 4", "4"]);
  assert.deepEqual(sent, [null, "3", "4"]);
  assert.equal(subscription.lastEventId, "4");
});
