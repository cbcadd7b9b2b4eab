// The generated client's `text/event-stream` parser on a corpus of random streams: it writes what
// it makes of them, and the Python test compares that with what typedsse.decoding makes of them.
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";

import { EventStreamParser, type ServerSentMessage } from "./echo.js";

/** A stream: its connections, each a list of base64 chunks fed in turn, then `end()`. */
type Stream = string[][];

/** A number as text, so that JSON keeps what it cannot write (`Infinity`). */
type Retry = string | null;

/** A message, its `retry` always there. */
interface Message {
  event: string;
  data: string;
  id: string;
  retry: Retry;
}

interface Parsed {
  /** For each connection, for each chunk and then `end()`, the messages returned. */
  messages: Message[][][];
  lastEventId: string;
  retry: Retry;
}

const input = process.env["TYPEDSSE_PARSER_CORPUS"];
const output = process.env["TYPEDSSE_PARSER_RESULTS"];
if (input === undefined || output === undefined) {
  throw new Error("TYPEDSSE_PARSER_CORPUS and TYPEDSSE_PARSER_RESULTS must name the corpus and the results files");
}

const retry = (value: number | undefined): Retry => (value === undefined ? null : String(value));
const plain = (message: ServerSentMessage): Message => ({
  event: message.event,
  data: message.data,
  id: message.id,
  retry: retry(message.retry),
});

test("corpus: the parser reads every stream of the corpus, chunk by chunk", () => {
  const streams = JSON.parse(readFileSync(input, "utf-8")) as Stream[];
  const results = streams.map((connections): Parsed => {
    const parser = new EventStreamParser();
    const messages = connections.map((chunks) => {
      const fed = chunks.map((chunk) => parser.feed(Uint8Array.from(Buffer.from(chunk, "base64"))).map(plain));
      fed.push(parser.end().map(plain));
      return fed;
    });
    return { messages, lastEventId: parser.lastEventId, retry: retry(parser.retry) };
  });
  writeFileSync(output, JSON.stringify(results), "utf-8");
});
