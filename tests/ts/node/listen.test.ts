// The typed `EventSource` listeners against a scripted source (no browser): what they add, and when they close it.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  SubscribeError,
  addEventListener,
  listen,
  type Echo,
  type EventSourceLike,
  type MessageEventLike,
} from "./echo.js";

/** An `EventSource` stand-in: `emit` dispatches a message to the listeners of its type, as a browser would. */
class ScriptedSource implements EventSourceLike {
  readonly listeners = new Map<string, Set<(event: MessageEventLike) => void>>();
  closed = false;

  addEventListener(type: string, listener: (event: MessageEventLike) => void): void {
    const set = this.listeners.get(type) ?? new Set();
    set.add(listener);
    this.listeners.set(type, set);
  }

  removeEventListener(type: string, listener: (event: MessageEventLike) => void): void {
    this.listeners.get(type)?.delete(listener);
  }

  close(): void {
    this.closed = true;
  }

  emit(type: string, data: string, lastEventId = ""): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) listener({ data, lastEventId });
  }

  /** The event types listened to, each as often as a listener is added for it. */
  types(): string[] {
    return [...this.listeners].flatMap(([type, set]) => [...set].map(() => type)).sort();
  }
}

const echo = '{"message":"hi","created_at":"2026-01-01T00:00:00Z"}';
const failure = '{"message":"The stream failed.","code":"internal_error"}';

test("addEventListener: listens to its event, and closes the source after the route's error event", () => {
  const source = new ScriptedSource();
  const seen: unknown[] = [];
  const remove = addEventListener(source, "/echo", "echo", (e) => seen.push([e.event, e.id, e.data.message]));
  assert.deepEqual(source.types(), ["echo", "typedsse.error"]);
  source.emit("echo", echo, "1");
  assert.equal(source.closed, false);
  source.emit("typedsse.error", failure, "1");
  assert.equal(source.closed, true); // EventSource would otherwise reconnect to a stream that failed
  assert.deepEqual(seen, [["echo", "1", "hi"]]);
  remove();
  assert.deepEqual(source.types(), []);
});

test("addEventListener: a listener for the error event itself receives it, and the source is closed", () => {
  const source = new ScriptedSource();
  const seen: unknown[] = [];
  addEventListener(source, "/echo", "typedsse.error", (e) => seen.push([source.closed, e.data.code]));
  assert.deepEqual(source.types(), ["typedsse.error"]);
  source.emit("typedsse.error", failure);
  assert.deepEqual(seen, [[true, "internal_error"]]);
});

test("listen: closes the source after the error event, handled or not, and after those of until", () => {
  for (const [until, terminal] of [
    [[], "typedsse.error"],
    [["reverse_echo"], "reverse_echo"],
  ] as const) {
    const source = new ScriptedSource();
    const seen: string[] = [];
    const remove = listen(source, "/echo", { echo: (e) => seen.push(e.event) }, { until });
    source.emit("echo", echo);
    assert.equal(source.closed, false);
    source.emit(terminal, terminal === "typedsse.error" ? failure : echo);
    assert.equal(source.closed, true, terminal);
    assert.deepEqual(seen, ["echo"]);
    remove();
    assert.deepEqual(source.types(), []);
  }
});

test("listen: handlers that are a class instance's methods are called on it", () => {
  class View {
    readonly seen: string[] = [];
    echo(e: Echo): void {
      this.seen.push(e.data.message);
    }
  }
  const source = new ScriptedSource();
  const view = new View();
  listen(source, "/echo", view);
  assert.deepEqual(source.types(), ["echo", "typedsse.error"]);
  source.emit("echo", echo);
  assert.deepEqual(view.seen, ["hi"]);
});

test("listen: data that is not JSON closes the source, goes to onError, and never to the handler", () => {
  const errors: unknown[] = [];
  const seen: string[] = [];
  const source = new ScriptedSource();
  listen(source, "/echo", { echo: (e) => seen.push(e.event) }, { onError: (error) => errors.push(error) });
  source.emit("echo", "{not json");
  assert.equal(source.closed, true);
  assert.deepEqual(seen, []);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof SubscribeError);
  assert.equal(errors[0].message, 'event "echo" carries data that is not JSON');
});

test("listen and addEventListener: without onError, data that is not JSON closes the source, throwing nothing", () => {
  for (const add of [
    (source: ScriptedSource, handler: () => void) => listen(source, "/echo", { echo: handler }),
    (source: ScriptedSource, handler: () => void) => addEventListener(source, "/echo", "echo", handler),
  ]) {
    const seen: string[] = [];
    const source = new ScriptedSource();
    add(source, () => seen.push("handled"));
    assert.doesNotThrow(() => source.emit("echo", "{not json"));
    assert.equal(source.closed, true);
    assert.deepEqual(seen, []);
  }
});

test("listen: an async handler's rejection closes the source and goes to onError, leaving none unhandled", async () => {
  const unhandled: unknown[] = [];
  const note = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on("unhandledRejection", note);
  const source = new ScriptedSource();
  const reported: unknown[] = [];
  listen(
    source,
    "/echo",
    {
      echo: async (e) => {
        throw new Error(`cannot store ${e.id ?? ""}`);
      },
    },
    {
      onError: async (error) => {
        reported.push(error);
        throw new Error("cannot report it");
      },
    },
  );
  source.emit("echo", echo, "1");
  source.emit("echo", echo, "2"); // dispatched before the first rejection arrives: its own is ignored
  await new Promise((resolve) => setTimeout(resolve, 10)); // Node reports unhandled rejections after the microtasks
  process.off("unhandledRejection", note);
  assert.equal(source.closed, true);
  assert.deepEqual(
    reported.map((error) => (error instanceof Error ? error.message : error)),
    ["cannot store 1"],
  );
  assert.deepEqual(unhandled, []);
});

test("listen: what onError throws is ignored, as its rejection is, leaving none unhandled", async () => {
  const unhandled: unknown[] = [];
  const note = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on("unhandledRejection", note);
  const reported: unknown[] = [];
  const onError = (error: unknown): void => {
    reported.push(error instanceof Error ? error.message : error);
    throw new Error("cannot report it");
  };
  const rejecting = new ScriptedSource();
  listen(
    rejecting,
    "/echo",
    {
      echo: async (e) => {
        throw new Error(`cannot store ${e.id ?? ""}`);
      },
    },
    { onError },
  );
  rejecting.emit("echo", echo, "1");
  const malformed = new ScriptedSource();
  listen(malformed, "/echo", { echo: () => undefined }, { onError });
  assert.doesNotThrow(() => malformed.emit("echo", "{not json"));
  await new Promise((resolve) => setTimeout(resolve, 10)); // Node reports unhandled rejections after the microtasks
  process.off("unhandledRejection", note);
  assert.equal(rejecting.closed, true);
  assert.equal(malformed.closed, true);
  assert.deepEqual(reported, ['event "echo" carries data that is not JSON', "cannot store 1"]);
  assert.deepEqual(unhandled, []);
});
