// The generated clients of the examples against the live example servers (one app, each example mounted at /NAME).
import assert from "node:assert/strict";
import { test } from "node:test";

import * as chat from "./chat.js";
import * as echo from "./echo.js";
import * as mergedEcho from "./merged_echo.js";
import * as progress from "./progress.js";
import * as ticker from "./ticker.js";

const base = process.env["TYPEDSSE_BASE_URL"];
const expected = JSON.parse(process.env["TYPEDSSE_EXPECTED"] ?? "{}") as { chatReply: string };
if (base === undefined) throw new Error("TYPEDSSE_BASE_URL must be the URL of the example server");

test("echo: every typed event exactly once, resuming with Last-Event-ID after each dropped connection", async () => {
  const received: string[] = [];
  const retries: number[] = [];
  const opened: number[] = [];
  const client = echo.createClient({ baseUrl: `${base}/echo` });
  const subscription = client.subscribe(
    "/echo",
    {
      query: { message: "hello", count: 6, per_connection: 2 },
      onOpen: (response) => opened.push(response.status),
      onRetry: ({ delay }) => retries.push(delay),
    },
    {
      echo: (e) => received.push(`${e.event} ${e.id} ${e.data.message}`),
      reverse_echo: (e) => {
        assert.match(e.data.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
        received.push(`${e.event} ${e.id} ${e.data.message}`);
      },
    },
  );
  assert.deepEqual(await subscription.done, { reason: "no-content" });
  assert.deepEqual(received, [
    "echo 0 hello",
    "reverse_echo 1 olleh",
    "echo 2 hello",
    "reverse_echo 3 olleh",
    "echo 4 hello",
    "reverse_echo 5 olleh",
  ]);
  assert.deepEqual(opened, [200, 200, 200]);
  assert.deepEqual(retries, [500, 500, 500]); // the server's `retry: 500`, after connections that delivered events
  assert.equal(subscription.lastEventId, "5");
});

test("echo: a subscription given lastEventId starts after it", async () => {
  const ids: (string | undefined)[] = [];
  const subscription = echo.subscribe(
    "/echo",
    { baseUrl: `${base}/echo`, query: { message: "hi", count: 4 }, lastEventId: "1" },
    { echo: (e) => ids.push(e.id), reverse_echo: (e) => ids.push(e.id) },
  );
  assert.deepEqual(await subscription.done, { reason: "no-content" });
  assert.deepEqual(ids, ["2", "3"]);
});

test("chat: the POST stream's typed tokens, then the message, ending at `done`", async () => {
  const tokens: string[] = [];
  const messages: chat.ChatMessage[] = [];
  const subscription = chat.createClient({ baseUrl: `${base}/chat` }).subscribe(
    "/chat",
    { body: { messages: [{ role: "user", content: "Hello there" }] }, until: ["done"] },
    {
      token: (e) => tokens.push(e.data),
      message: (e) => messages.push(e.data),
      done: (e) => assert.equal(e.data, null),
    },
  );
  const end = await subscription.done;
  assert.equal(end.reason, "event");
  assert.deepEqual(end.reason === "event" ? end.event : undefined, { event: "done", data: null });
  assert.equal(tokens.join(""), expected.chatReply);
  assert.deepEqual(messages, [{ role: "assistant", content: expected.chatReply }]);
});

test("chat: a stream that does not resume ends when the server closes it", async () => {
  const names: string[] = [];
  const subscription = chat.subscribe(
    "/chat",
    { baseUrl: `${base}/chat`, body: { messages: [{ role: "user", content: "Hi" }], max_tokens: 2 } },
    { token: (e) => names.push(e.event), message: (e) => names.push(e.event), done: (e) => names.push(e.event) },
  );
  assert.deepEqual(await subscription.done, { reason: "closed" });
  assert.deepEqual(names, ["token", "token", "message", "done"]);
});

test("chat: an invalid body fails with the HTTP status and body, before any event", async () => {
  const errors: unknown[] = [];
  const subscription = chat.subscribe(
    "/chat",
    { baseUrl: `${base}/chat`, body: { messages: [] }, onError: (error) => errors.push(error) },
    { token: () => assert.fail("no event expected") },
  );
  const error = await subscription.done.then(
    () => assert.fail("the subscription should fail"),
    (reason: unknown) => reason,
  );
  assert.ok(error instanceof chat.SubscribeError);
  assert.equal(error.status, 422);
  assert.equal(error.message, "POST /chat: HTTP 422");
  assert.match(error.body ?? "", /"too_short"/);
  assert.deepEqual(errors, [error]);
});

test("progress: path parameters and an enum query; the failure event ends the job", async () => {
  const seen: string[] = [];
  const subscription = progress.subscribe(
    "/jobs/{job_id}",
    {
      baseUrl: `${base}/progress`,
      params: { job_id: "job 42" },
      query: { fail_at: "validate" },
      until: ["job.result", "job.failed"],
    },
    {
      "job.progress": (e) => seen.push(`${e.data.stage} ${e.data.percent}`),
      "job.failed": (e) => seen.push(`failed ${e.data.job_id} at ${e.data.stage}`),
      "job.result": () => assert.fail("the job fails at validate"),
    },
  );
  const end = await subscription.done;
  assert.equal(end.reason === "event" ? end.event.event : end.reason, "job.failed");
  assert.deepEqual(seen, ["fetch 0", "parse 25", "validate 50", "failed job 42 at validate"]);
});

test("progress: the blocking job's result", async () => {
  const subscription = progress.subscribe(
    "/jobs/{job_id}/blocking",
    { baseUrl: `${base}/progress`, params: { job_id: "7" }, until: ["job.result"] },
    {},
  );
  const end = await subscription.done;
  assert.deepEqual(end.reason === "event" ? end.event : end, {
    event: "job.result",
    data: { job_id: "7", stages: ["fetch", "parse", "validate", "store"] },
  });
});

test("merged echo: a cursor id resumes both merged sources", async () => {
  const received: string[] = [];
  const subscription = mergedEcho.subscribe(
    "/echo",
    { baseUrl: `${base}/merged_echo`, query: { message: "ab", count: 3 }, lastEventId: "echo:1,reverse:0" },
    {
      echo: (e) => received.push(`${e.event} ${e.data.message}`),
      reverse_echo: (e) => received.push(`${e.event} ${e.data.message}`),
    },
  );
  assert.deepEqual(await subscription.done, { reason: "no-content" });
  assert.deepEqual(
    [...received].sort(),
    ["echo ab", "reverse_echo ba", "reverse_echo ba"],
  );
  assert.equal(subscription.lastEventId, "echo:2,reverse:2");
});

test("ticker: an array query parameter, and a stream that ends by itself", async () => {
  const symbols = new Set<string>();
  const subscription = ticker.subscribe(
    "/prices",
    { baseUrl: `${base}/ticker`, query: { symbol: ["ACME", "GLOBEX"], seed: 1, ticks: 20 } },
    { price_changed: (e) => symbols.add(`${e.data.symbol} ${typeof e.data.price}`) },
  );
  assert.deepEqual(await subscription.done, { reason: "closed" });
  assert.ok(symbols.size > 0);
  for (const symbol of symbols) assert.ok(["ACME number", "GLOBEX number"].includes(symbol), symbol);
});

test("ticker: aborting the signal stops an endless stream", async () => {
  const controller = new AbortController();
  let count = 0;
  const subscription = ticker.subscribe(
    "/prices",
    { baseUrl: `${base}/ticker`, query: {}, signal: controller.signal },
    {
      price_changed: () => {
        count += 1;
        if (count === 2) controller.abort();
      },
    },
  );
  assert.deepEqual(await subscription.done, { reason: "aborted" });
  assert.equal(count, 2);
});

test("ticker: calling the subscription stops it", async () => {
  let count = 0;
  const subscription = ticker.subscribe(
    "/prices",
    { baseUrl: `${base}/ticker`, query: {} },
    {
      price_changed: () => {
        count += 1;
        subscription();
      },
    },
  );
  assert.deepEqual(await subscription.done, { reason: "aborted" });
  assert.equal(count, 1);
});
