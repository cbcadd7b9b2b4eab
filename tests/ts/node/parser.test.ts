// The generated client's `text/event-stream` parser, fed in chunks of every size.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { EventStreamParser, type ServerSentMessage } from "./echo.js";

interface Case {
  name: string;
  stream: string; // base64
  messages: ServerSentMessage[];
  lastEventId: string;
  retry: number | null;
}

const casesPath = process.env["TYPEDSSE_PARSER_CASES"];
if (casesPath === undefined) throw new Error("TYPEDSSE_PARSER_CASES must name the JSON file of parser cases");
const cases = JSON.parse(readFileSync(casesPath, "utf-8")) as Case[];

function parse(chunks: readonly Uint8Array[]): { messages: ServerSentMessage[]; parser: EventStreamParser } {
  const parser = new EventStreamParser();
  const messages = chunks.flatMap((chunk) => parser.feed(chunk));
  messages.push(...parser.end());
  return { messages, parser };
}

function splits(bytes: Uint8Array): Uint8Array[][] {
  const ways: Uint8Array[][] = [[bytes], Array.from(bytes, (byte) => Uint8Array.of(byte))];
  for (let at = 1; at < bytes.length; at += 1) ways.push([bytes.subarray(0, at), bytes.subarray(at)]);
  return ways;
}

for (const item of cases) {
  test(`parser: ${item.name}, in chunks of every size, as typedsse.decoding parses it`, () => {
    const bytes = Uint8Array.from(Buffer.from(item.stream, "base64"));
    for (const chunks of splits(bytes)) {
      const { messages, parser } = parse(chunks);
      const where = `split as ${JSON.stringify(chunks.map((chunk) => chunk.length))}`;
      assert.deepEqual(messages, item.messages, where);
      assert.equal(parser.lastEventId, item.lastEventId, where);
      assert.equal(parser.retry ?? null, item.retry, where);
    }
  });
}

test("parser: a CR ending one chunk and an LF starting the next end a single line", () => {
  const parser = new EventStreamParser();
  const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
  assert.deepEqual(parser.feed(encode("data: a\r")), []);
  assert.deepEqual(parser.feed(encode("\ndata: b\r")), []);
  assert.deepEqual(parser.feed(encode("\r")), [{ event: "message", data: "a\nb", id: "" }]);
});

test("parser: end() drops the unfinished message and keeps the last event id for the reconnection", () => {
  const parser = new EventStreamParser();
  assert.deepEqual(parser.feed("id: 7\ndata: done\n\nid: 8\ndata: cut"), [{ event: "message", data: "done", id: "7" }]);
  assert.deepEqual(parser.end(), []);
  assert.equal(parser.lastEventId, "7");
  assert.deepEqual(parser.feed("\ufeffdata: next\n\n"), [{ event: "message", data: "next", id: "7" }]);
});
