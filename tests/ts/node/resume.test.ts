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
