// ---------------------------------------------------------------------------
// Runtime: typed subscriptions over `fetch`, typed listeners for `EventSource`.
// Needs `fetch`, `AbortController`, `TextEncoder`, `TextDecoder`, `URL`, `setTimeout` and
// `clearTimeout`: any browser, Node 18 or later, Deno, Bun. Type-checks with the DOM library
// or @types/node.
// ---------------------------------------------------------------------------

/** What every typed event has: its name, the last event id, and its decoded data. */
export interface AnyEvent {
  event: string;
  id?: string;
  data: unknown;
}

/** A path of the route table that streams events. */
export type StreamPath = keyof Streams;

/** The HTTP methods that stream events at `P`. */
export type StreamMethod<P extends StreamPath> = Extract<keyof Streams[P], string>;

type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never;

/** The method used when none is given: the path's only streaming method (or none, if it has several). */
export type DefaultMethod<P extends StreamPath> =
  true extends IsUnion<StreamMethod<P>> ? never : StreamMethod<P>;

type Route<P extends StreamPath, M extends StreamMethod<P>> = Streams[P][M] extends infer R extends RouteShape
  ? R
  : never;

interface RouteShape {
  params: object;
  query: object;
  headers: object;
  body: unknown;
  event: AnyEvent;
}

/** The union of events the route `M P` can send, discriminated by `event`. */
export type StreamEvent<P extends StreamPath, M extends StreamMethod<P> = DefaultMethod<P>> = Route<P, M>["event"];

/** The name of an event of `E`. */
export type EventName<E extends AnyEvent> = E["event"];

/**
 * One optional handler per event name; each receives the event with that name, fully typed. Handlers may be an
 * object's methods, a class instance's too, called on it (`this` is that object). An async handler
 * is not awaited, but its rejection ends the subscription, as an exception a handler throws does (`listen`
 * closes the source instead, and passes it to its `onError`).
 */
export type Handlers<E extends AnyEvent> = {
  [N in E["event"]]?: ((event: Extract<E, { event: N }>) => void) | undefined;
};

/** A header value; `null` and `undefined` leave the header out. */
export type HeaderValue = string | number | boolean | null | undefined;

/**
 * Headers: fixed, or a function giving them, sync or async, called for every connection attempt (the first and
 * each reconnection), such as one reading a bearer token that expires while the stream is open.
 */
export type HeadersOption<H> = H | (() => H | PromiseLike<H>);

type Part<K extends string, T> = {} extends T ? { [_ in K]?: T | undefined } : { [_ in K]: T };

/** The request a route takes: `params` (path), `query`, `headers` and `body`, each required when the route needs it. */
export type RequestParts<R extends RouteShape> = Part<"params", R["params"]> &
  Part<"query", R["query"]> &
  Part<"headers", HeadersOption<R["headers"] & { [name: string]: HeaderValue }>> &
  (undefined extends R["body"] ? { body?: R["body"] } : { body: R["body"] });

// The members of `B` a `ReadableStream` is one of: a stream (or, in Node's types, an async iterable).
type StreamBody<B> = B extends unknown ? (ReadableStream extends B ? never : B) : never;

/**
 * A request body that is not JSON, such as a form, sent as `fetch` sends it: `URLSearchParams`, `FormData`, a
 * `Blob`, text or bytes. Not a stream, which `fetch` sends only as a half-duplex request, and which could not be
 * sent again on a reconnection: `subscribe` throws a `TypeError` for one.
 */
export type RawBody = StreamBody<NonNullable<RequestInit["body"]>>;

/** Options shared by every subscription of a client. */
export interface ClientOptions {
  /**
   * Prefix of every path, such as `"https://api.example.com"` (required outside browsers); by default the
   * path of the document's server, such as `"/api"` for an app served under that prefix.
   */
  baseUrl?: string | undefined;
  /**
   * Headers of every request, such as `Authorization`; or a function giving them, sync or async, called for every
   * connection attempt (a token read afresh for each reconnection). A subscription's headers are sent after them,
   * replacing those of the same name. A function's exception or rejection ends the subscription, as a handler's does.
   */
  headers?: HeadersOption<{ [name: string]: HeaderValue }> | undefined;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch | undefined;
  /**
   * Whether requests send cookies, as `fetch`'s option: `"include"` for those of a stream on another origin
   * (which must allow credentials); `fetch`'s default, `"same-origin"`, when not given.
   */
  credentials?: RequestInit["credentials"] | undefined;
  /** The first reconnection delay, in milliseconds, until the server sends `retry:` (default 3000). */
  retry?: number | undefined;
  /**
   * How far the reconnection delay grows, in milliseconds, however often connecting fails (default 60000);
   * a longer first delay (`retry`, or the server's `retry:`) is kept as it is, and so is a longer `Retry-After`
   * of a 429, 502, 503 or 504, up to 10 minutes.
   */
  maxRetry?: number | undefined;
}

/** How to open one stream, besides its request parts. */
export interface StreamOptions<E extends AnyEvent> extends ClientOptions {
  /** Stops the subscription when aborted, as calling it does. */
  signal?: AbortSignal | undefined;
  /** Resume after this event id: sent as `Last-Event-ID` from the first request on. */
  lastEventId?: string | undefined;
  /**
   * Whether to reconnect when the connection ends before a terminal event. By default a route
   * that resumes reconnects (without duplicates or gaps), and any other ends the subscription
   * (reconnecting would start it over). A route resumes when the document says so, in its
   * `x-typedsse` extension, as typedsse's does for a route taking `LastEventId`; a `Last-Event-ID`
   * header parameter alone, in a document written by hand, does not say so.
   */
  reconnect?: boolean | undefined;
  /** More terminal events: the subscription ends after handling any of them (besides the route's error events). */
  until?: readonly E["event"][] | undefined;
  /**
   * Called for every successful response, the first and each reconnection; an exception it throws (or its
   * rejection, when it is async) ends the subscription.
   */
  onOpen?: ((response: Response) => void) | undefined;
  /**
   * Called when the connection ended or failed and the client reconnects after `delay` milliseconds (at most
   * 2147483647, about 24.8 days, the longest `setTimeout` waits, whatever the server's `retry:` asks); an
   * exception it throws (or its rejection, when it is async) ends the subscription. A 429, 502, 503 or 504
   * answer is such a failure, its `error` the `SubscribeError`.
   */
  onRetry?: ((info: { delay: number; attempt: number; error?: unknown }) => void) | undefined;
  /**
   * Called once if the subscription fails (`done` then rejects with the same error). It is not awaited: when it
   * is async, `done` rejects at once; what it throws, or its rejection, is ignored (the subscription has already
   * ended).
   */
  onError?: ((error: unknown) => void) | undefined;
}

type MethodPart<P extends StreamPath, M extends StreamMethod<P>> =
  true extends IsUnion<StreamMethod<P>> ? { method: M } : { method?: M | undefined };

/** Everything `subscribe` takes besides the path and the handlers. */
export type SubscribeOptions<P extends StreamPath, M extends StreamMethod<P>> = MethodPart<P, M> &
  RequestParts<Route<P, M>> &
  StreamOptions<StreamEvent<P, M>>;

/** Why a subscription ended without failing. */
export type SubscriptionEnd<E extends AnyEvent> =
  /** A terminal event arrived (an error event of the route, or one of `until`). */
  | { reason: "event"; event: E }
  /** The server answered 204 No Content: nothing more to send. */
  | { reason: "no-content" }
  /** The server ended a stream that does not reconnect. */
  | { reason: "closed" }
  /** The subscription was stopped, or its signal aborted. */
  | { reason: "aborted" };

/** A running subscription: call it to stop; `done` settles when it ends. */
export interface Subscription<E extends AnyEvent> {
  (): void;
  /** Resolves with why the subscription ended, or rejects with a `SubscribeError` or a handler's error. */
  readonly done: Promise<SubscriptionEnd<E>>;
  /**
   * The last event id as of the last event handed to a handler (or given as `lastEventId`), sent as
   * `Last-Event-ID` on reconnection: events that arrived with it but were not handled, because the
   * subscription stopped or ended first, come after it, so resuming from it misses none of them.
   */
  readonly lastEventId: string;
}

/**
 * Why a subscription failed: an HTTP status other than the route's (200 unless the document gives another) or 204,
 * another 2xx too, a response that is not an event stream, bad JSON, a lost connection.
 */
export class SubscribeError extends Error {
  /** The HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** The response body of a failing response: what of it arrives within a second, at most 64 KiB. */
  readonly body: string | undefined;
  /** How long the server asked to wait before trying again (its `Retry-After`), in milliseconds. */
  readonly retryAfter: number | undefined;

  constructor(
    message: string,
    init: {
      status?: number | undefined;
      body?: string | undefined;
      retryAfter?: number | undefined;
      cause?: unknown;
    } = {},
  ) {
    super(message);
    this.name = "SubscribeError";
    this.status = init.status;
    this.body = init.body;
    this.retryAfter = init.retryAfter;
    if (init.cause !== undefined) {
      Object.defineProperty(this, "cause", { value: init.cause, configurable: true, writable: true });
    }
  }
}

/** A client whose subscriptions share options, such as a base URL and an `Authorization` header. */
export interface Client {
  /**
   * Open the stream at `path` and call the handler of each event as it arrives.
   * Reconnects (sending `Last-Event-ID`, waiting the server's `retry:` delay) as the route allows;
   * ends on HTTP 204, on a terminal event, or when stopped.
   */
  subscribe<P extends StreamPath, M extends StreamMethod<P> = DefaultMethod<P>>(
    path: P,
    options: SubscribeOptions<P, M>,
    handlers: Handlers<StreamEvent<P, M>>,
  ): Subscription<StreamEvent<P, M>>;
}

/** Create a client: `createClient({ baseUrl: "http://127.0.0.1:8000" }).subscribe(...)`. */
export function createClient(defaults: ClientOptions = {}): Client {
  return {
    subscribe(path, options, handlers) {
      return open(defaults, path, options, handlers as Handlers<AnyEvent>);
    },
  };
}

/**
 * Open the stream at `path` and call the handler of each event as it arrives.
 *
 * ```ts
 * const stop = subscribe("/echo", { query: { message: "hi" } }, {
 *   echo: (e) => console.log(e.id, e.data.message),
 * });
 * ```
 */
export function subscribe<P extends StreamPath, M extends StreamMethod<P> = DefaultMethod<P>>(
  path: P,
  options: SubscribeOptions<P, M>,
  handlers: Handlers<StreamEvent<P, M>>,
): Subscription<StreamEvent<P, M>> {
  return open({}, path, options, handlers as Handlers<AnyEvent>);
}

/** One dispatched server-sent event, before decoding, as `EventSource` would see it. */
export interface ServerSentMessage {
  /** The event type: the `event` field, or `"message"` without one. */
  event: string;
  /** The `data` fields joined with LF. */
  data: string;
  /** The last event id when the message was dispatched (it persists across messages). */
  id: string;
  /** The reconnection time set by a valid `retry` field in this message's lines. */
  retry?: number;
}

/**
 * Incremental `text/event-stream` parser following WHATWG HTML ("Parsing an event stream"):
 * UTF-8 with one leading BOM skipped, lines ending in CRLF, LF or CR (also split across chunks),
 * comments ignored, one space after the colon removed, `retry` only when all digits, `id`
 * ignored when it contains NUL, and a message dispatched at each blank line if it has data.
 */
export class EventStreamParser {
  /** The reconnection time of the latest valid `retry` field, in milliseconds. */
  retry: number | undefined = undefined;
  private decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  private atStart = true;
  private skipLF = false;
  private pending = "";
  private data: string[] = [];
  private eventType = "";
  private idBuffer = "";
  private last = "";
  private blockRetry: number | undefined = undefined;

  /** The last event id: the id buffer's value at the latest blank line. */
  get lastEventId(): string {
    return this.last;
  }

  /**
   * Resume after `id`: sets the last event ID buffer too, as a reconnecting `EventSource` has it,
   * so that blank lines without an `id` field (a `retry:` frame, a keep-alive comment) keep it.
   */
  set lastEventId(id: string) {
    this.last = id;
    this.idBuffer = id;
  }

  /** Parse the next bytes (or text) of the stream; return the messages it completes. */
  feed(chunk: Uint8Array | string): ServerSentMessage[] {
    let text = typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    if (text === "") return [];
    if (this.atStart) {
      this.atStart = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.skipLF && text !== "") {
      this.skipLF = false;
      if (text.charCodeAt(0) === 0x0a) text = text.slice(1);
    }
    const messages: ServerSentMessage[] = [];
    const lineEnd = /\r\n|\r|\n/g;
    let start = 0;
    for (let match = lineEnd.exec(text); match !== null; match = lineEnd.exec(text)) {
      this.line(this.pending + text.slice(start, match.index), messages);
      this.pending = "";
      start = lineEnd.lastIndex;
      // A CR ending the chunk ends its line now; an LF starting the next chunk ends none.
      if (match[0] === "\r" && start === text.length) this.skipLF = true;
    }
    this.pending += text.slice(start);
    return messages;
  }

  /** End the stream: discard the unfinished message, and get ready for a reconnection (keeping `lastEventId`). */
  end(): ServerSentMessage[] {
    this.decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    this.atStart = true;
    this.skipLF = false;
    this.pending = "";
    this.data = [];
    this.eventType = "";
    this.idBuffer = this.last;
    this.blockRetry = undefined;
    return [];
  }

  private line(line: string, messages: ServerSentMessage[]): void {
    if (line === "") {
      this.last = this.idBuffer;
      if (this.data.length > 0) {
        const message: ServerSentMessage = {
          event: this.eventType === "" ? "message" : this.eventType,
          data: this.data.join("\n"),
          id: this.idBuffer,
        };
        if (this.blockRetry !== undefined) message.retry = this.blockRetry;
        messages.push(message);
      }
      this.data = [];
      this.eventType = "";
      this.blockRetry = undefined;
      return;
    }
    if (line.charCodeAt(0) === 0x3a) return; // ":" starts a comment
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    if (field === "data") {
      this.data.push(value);
    } else if (field === "event") {
      this.eventType = value;
    } else if (field === "id") {
      if (!value.includes("\0")) this.idBuffer = value;
    } else if (field === "retry") {
      if (/^[0-9]+$/.test(value)) this.blockRetry = this.retry = Number(value);
    }
  }
}

/** The smallest part of an `EventSource` the listeners need (a browser's `EventSource` is one). */
export interface EventSourceLike {
  addEventListener(type: string, listener: (event: MessageEventLike) => void): void;
  removeEventListener(type: string, listener: (event: MessageEventLike) => void): void;
  close(): void;
}

/** The parts of a `MessageEvent` the listeners read. */
export interface MessageEventLike {
  readonly data: unknown;
  readonly lastEventId: string;
}

/** A path with a streaming `GET` route, which a browser's `EventSource` can open. */
export type EventSourcePath = { [P in StreamPath]: "GET" extends StreamMethod<P> ? P : never }[StreamPath];

type GetRoute<P extends EventSourcePath> = Route<P, Extract<"GET", StreamMethod<P>>>;

/** The events of the `GET` route at `P`. */
export type EventSourceEvent<P extends EventSourcePath> = GetRoute<P>["event"];

/**
 * Build the URL of the `GET` stream at `path`, for `new EventSource(url)`.
 *
 * ```ts
 * const source = new EventSource(eventSourceUrl("/echo", { query: { message: "hi" } }));
 * ```
 */
export function eventSourceUrl<P extends EventSourcePath>(
  path: P,
  options: Omit<RequestParts<GetRoute<P>>, "headers" | "body"> & { baseUrl?: string | undefined },
): string {
  const parts = options as { params?: object; query?: object; baseUrl?: string };
  return buildUrl(parts.baseUrl ?? SERVER_PATH, path, parts.params, parts.query);
}

/**
 * Call the handler of each event an `EventSource` opened on `path` receives, typed by the route.
 * Closes the source after a terminal event (the route's error events, whether or not a handler is
 * given for them, and those in `until`), since `EventSource` would otherwise reconnect to a stream
 * that has ended. Returns a function removing every listener it added.
 */
export function listen<P extends EventSourcePath>(
  source: EventSourceLike,
  path: P,
  handlers: Handlers<EventSourceEvent<P>>,
  options: {
    /** More terminal events: the source is closed when any of them arrives, before its handler runs. */
    until?: readonly EventSourceEvent<P>["event"][] | undefined;
    /**
     * Called with a `SubscribeError` when a handled event's data is not JSON: the source is closed
     * and the handler is not called. Without `onError`, the source is closed just the same, and
     * nothing reports why. Called too with the rejection of an async handler, which closes the
     * source (the first: later ones are ignored); without `onError`, that is left unhandled. What
     * `onError` throws, or its rejection when it is async, is ignored.
     */
    onError?: ((error: unknown) => void) | undefined;
  } = {},
): () => void {
  const route = routeInfo(path, "GET");
  const terminal = new Set<string>([...route.terminal, ...(options.until ?? [])]);
  const listeners: [string, (event: MessageEventLike) => void][] = [];
  let failed = false; // whether an async handler has rejected
  // An async handler's rejection closes the source, as data that is not JSON does, and goes to `onError` (the
  // first one: later ones are ignored); without `onError` it is left unhandled, as a thrown exception is left to
  // the source, rather than silently dropped.
  const watch = (returned: unknown): void => {
    if (!isThenable(returned)) return;
    Promise.resolve(returned).then(undefined, (error: unknown) => {
      if (failed) return;
      failed = true;
      source.close();
      if (options.onError === undefined) throw error;
      report(() => options.onError?.(error));
    });
  };
  for (const name of Object.keys(route.events)) {
    const handler = handlerOf(handlers, name);
    const encoding = route.events[name];
    if (handler === undefined || encoding === undefined) continue;
    const listener = (message: MessageEventLike): void => {
      let event: AnyEvent;
      try {
        event = decode(name, String(message.data), message.lastEventId, encoding);
      } catch (error) {
        source.close();
        report(() => options.onError?.(error));
        return;
      }
      if (terminal.has(name)) source.close();
      watch(handler.call(handlers, event));
    };
    source.addEventListener(name, listener);
    listeners.push([name, listener]);
  }
  for (const name of terminal) {
    if (route.events[name] !== undefined && !listeners.some(([listened]) => listened === name)) {
      const listener = (): void => source.close();
      source.addEventListener(name, listener);
      listeners.push([name, listener]);
    }
  }
  return () => {
    for (const [name, listener] of listeners) source.removeEventListener(name, listener);
  };
}

/**
 * Add a typed listener for one event of the route at `path`. As `listen` does, it also closes the
 * source after the route's error events (such as `typedsse.error`), and when the event's data is
 * not JSON (which it has no `onError` to report: use `listen` for that). Returns a function
 * removing every listener it added.
 */
export function addEventListener<P extends EventSourcePath, N extends EventSourceEvent<P>["event"]>(
  source: EventSourceLike,
  path: P,
  name: N,
  listener: (event: Extract<EventSourceEvent<P>, { event: N }>) => void,
): () => void {
  const handlers = { [name]: listener } as unknown as Handlers<EventSourceEvent<P>>;
  return listen(source, path, handlers, { until: [] });
}

// ---------------------------------------------------------------------------
// Internals.
// ---------------------------------------------------------------------------

/**
 * What the runtime knows of a route: each event's data encoding, its terminal events, whether it resumes,
 * its request body, and the status of its stream when the document gives another than 200.
 */
interface RouteInfo {
  readonly events: { readonly [name: string]: "json" | "text" | undefined };
  readonly terminal: readonly string[];
  readonly resumable: boolean;
  readonly body: "json" | "raw" | null;
  readonly status?: number;
}

type RouteTable = { readonly [path: string]: { readonly [method: string]: RouteInfo | undefined } | undefined };

const DEFAULT_RETRY = 3000;
const DEFAULT_MAX_RETRY = 60000;
const MAX_TIMEOUT = 2147483647; // setTimeout's largest delay
const MAX_ERROR_BODY = 65536;
const ERROR_BODY_WAIT = 1000; // milliseconds: how long an error's body is read (it may never end)
// The answers of a proxy whose server restarts (502, 503, 504) or of a server shedding load (429, 503): a stream
// that reconnects tries again, as after a lost connection, waiting at least their `Retry-After`, up to this
// bound (or `maxRetry`, if longer): a mistaken or hostile value must not park a client for days.
const UNAVAILABLE = [429, 502, 503, 504];
const MAX_RETRY_AFTER = 600000;

function routeInfo(path: string, method: string): RouteInfo {
  const info = ROUTES[path]?.[method];
  if (info === undefined) throw new TypeError(`no event stream at ${method} ${path}`);
  return info;
}

function soleMethod(path: string): string {
  const methods = Object.keys(ROUTES[path] ?? {});
  if (methods.length === 1 && methods[0] !== undefined) return methods[0];
  if (methods.length === 0) throw new TypeError(`no event stream at ${path}`);
  throw new TypeError(`${path} streams with ${methods.join(" and ")}: choose one with the \`method\` option`);
}

// A name from the wire may be `constructor` or `__proto__`: only the table's own keys are its entries.
function own<T>(table: { readonly [name: string]: T }, name: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
}

// The handler of `name`: the object's own, or a method of its class (an instance's `echo() {}`), but neither
// `Object.prototype`'s members nor a class's `constructor`, for events named like them. Called on `handlers`.
function handlerOf(handlers: object, name: string): ((event: AnyEvent) => unknown) | undefined {
  for (let at: object | null = handlers; at !== null && at !== Object.prototype; at = Object.getPrototypeOf(at)) {
    if (!Object.prototype.hasOwnProperty.call(at, name)) continue;
    if (at !== handlers && name === "constructor") return undefined;
    const value = (handlers as { [name: string]: unknown })[name];
    return typeof value === "function" ? (value as (event: AnyEvent) => unknown) : undefined;
  }
  return undefined;
}

function decode(name: string, data: string, id: string, encoding: "json" | "text"): AnyEvent {
  let value: unknown = data;
  if (encoding === "json") {
    try {
      value = JSON.parse(data);
    } catch (error) {
      throw new SubscribeError(`event ${JSON.stringify(name)} carries data that is not JSON`, { cause: error });
    }
  }
  return id === "" ? { event: name, data: value } : { event: name, id, data: value };
}

function buildUrl(baseUrl: string, path: string, params?: object, query?: object): string {
  const values = (params ?? {}) as { [name: string]: unknown };
  let url =
    baseUrl.replace(/\/+$/, "") +
    path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const value = values[name];
      if (value === undefined || value === null) throw new TypeError(`missing path parameter ${name}`);
      const text = String(value);
      // The URL parser takes `.` and `..` (percent-encoded too) as dot segments: the request would go elsewhere.
      if (text === "." || text === "..") {
        const why = "a URL reads it as a step up or in place, not as a segment";
        throw new TypeError(`path parameter ${name} cannot be ${JSON.stringify(text)}: ${why}`);
      }
      return encodeURIComponent(text);
    });
  const pairs: string[] = [];
  const entries = (query ?? {}) as { [name: string]: unknown };
  // Object.keys, not Object.entries (ES2017): the module compiles with `lib` ES2015 and ES2016 too.
  for (const name of Object.keys(entries)) {
    const value = entries[name];
    for (const item of Array.isArray(value) ? (value as unknown[]) : [value]) {
      if (item === undefined || item === null) continue;
      const text = typeof item === "object" ? JSON.stringify(item) : String(item);
      pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(text)}`);
    }
  }
  if (pairs.length > 0) url += (url.includes("?") ? "&" : "?") + pairs.join("&");
  return url;
}

// A header `fetch` refuses fails here, at once: every attempt to send it would fail alike.
function setHeaders(target: { [name: string]: string }, source: { [name: string]: HeaderValue } | undefined): void {
  const headers = source ?? {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined || value === null) continue;
    // As `fetch` does: tabs, spaces and line breaks at either end are dropped (a token read from a file).
    const text = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(name)) throw new TypeError(`${JSON.stringify(name)} is not a header name`);
    if (/[\0\r\n]|[^\u0000-\u00ff]/.test(text)) {
      const what = "holds a line break or a NUL inside it, or a character past U+00FF";
      throw new TypeError(`the header ${name} cannot be sent: its value ${JSON.stringify(text)} ${what}`);
    }
    target[name.toLowerCase()] = text;
  }
}

// `EventSource` sends the id UTF-8 encoded; a fetch header value is a byte string, so each byte becomes one character.
function headerValue(text: string): string {
  let bytes = "";
  for (const byte of new TextEncoder().encode(text)) bytes += String.fromCharCode(byte);
  return bytes;
}

// `Retry-After` in milliseconds: delay-seconds, or an HTTP date (0 once past); `undefined` when absent or unreadable.
function retryAfter(response: Response): number | undefined {
  const value = response.headers.get("retry-after")?.trim() ?? "";
  if (/^[0-9]+$/.test(value)) return Number(value) * 1000;
  const date = value === "" ? NaN : Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function isEventStream(response: Response): boolean {
  const type = response.headers.get("content-type") ?? "";
  return type.split(";")[0]?.trim().toLowerCase() === "text/event-stream";
}

function open(
  defaults: ClientOptions,
  path: string,
  rawOptions: unknown,
  handlers: Handlers<AnyEvent>,
): Subscription<never> {
  const options = rawOptions as StreamOptions<AnyEvent> & {
    method?: string;
    params?: object;
    query?: object;
    headers?: HeadersOption<{ [name: string]: HeaderValue }>;
    body?: unknown;
  };
  const method = options.method ?? soleMethod(path);
  const route = routeInfo(path, method);
  const url = buildUrl(options.baseUrl ?? defaults.baseUrl ?? SERVER_PATH, path, options.params, options.query);
  const page = (globalThis as { location?: { href: string } }).location;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(url) && page === undefined) {
    throw new TypeError(`${url} is a relative URL: outside a browser, give the server's address as \`baseUrl\``);
  }
  // A request `fetch` could never send fails here, at once, rather than as a network failure on every attempt.
  let parsed: URL;
  try {
    parsed = new URL(url, page?.href);
  } catch {
    throw new TypeError(`${url} is not a valid URL`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new TypeError(`${url} holds credentials, which fetch refuses in a URL: send them in a header`);
  }
  const headers: { [name: string]: string } = { accept: "text/event-stream" };
  // Fixed headers are checked here, at once; a function's, at each attempt, as it gives them.
  const given = [defaults.headers, options.headers];
  const dynamic = given.some((source) => typeof source === "function");
  for (const source of given) if (typeof source !== "function") setHeaders(headers, source);
  let body: NonNullable<RequestInit["body"]> | undefined;
  let jsonBody = false; // whether the body is JSON, whose content type replaces any given (a function's too)
  if (options.body !== undefined && route.body === null) {
    // Only untyped callers get here: the route's type says `body?: undefined`.
    throw new TypeError(`${method} ${path} takes no request body`);
  }
  if (options.body !== undefined && method === "GET") {
    throw new TypeError(`GET ${path} takes a request body, which fetch cannot send with GET: serve the stream with POST`);
  }
  if (options.body !== undefined && route.body === "json") {
    let json: string | undefined;
    try {
      json = JSON.stringify(options.body);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new TypeError(`the body of ${method} ${path} cannot be sent as JSON: ${why}`);
    }
    if (json === undefined) throw new TypeError(`the body of ${method} ${path} cannot be sent as JSON`);
    headers["content-type"] = "application/json";
    jsonBody = true;
    body = json;
  } else if (options.body !== undefined) {
    if (isStream(options.body)) {
      const why = 'which fetch sends only with `duplex: "half"`, and which a reconnection could not send again';
      throw new TypeError(`the body of ${method} ${path} is a stream, ${why}: give \`body\` as a Blob, text or bytes`);
    }
    body = options.body as RawBody;
  }
  // The last event id as of the last message handled: the parser's runs ahead while a chunk's messages are handled.
  let lastEventId = options.lastEventId ?? "";
  if (/[\0\r\n]/.test(lastEventId)) {
    const id = JSON.stringify(lastEventId);
    throw new TypeError(`lastEventId ${id} cannot be sent as Last-Event-ID: it holds a line break or a NUL`);
  }
  const fetchFunction = options.fetch ?? defaults.fetch ?? fetch;
  const credentials = options.credentials ?? defaults.credentials;
  const maxRetry = options.maxRetry ?? defaults.maxRetry ?? DEFAULT_MAX_RETRY;
  const reconnect = options.reconnect ?? route.resumable;
  const terminal = new Set<string>([...route.terminal, ...(options.until ?? [])]);
  const parser = new EventStreamParser();
  parser.lastEventId = lastEventId;
  // The current attempt's: each has its own, since `fetch` follows the signal it is given with a listener that it
  // drops only once the request is garbage collected; one signal for every reconnection gathered them.
  let controller = new AbortController();
  let stopped = false;
  let received = false; // whether the current connection has dispatched a message
  let wake: (() => void) | undefined; // ends the wait in progress (a request, an error's body, a delay) when stopped
  let reading: ReadableStreamDefaultReader<Uint8Array> | undefined; // the event stream being read, if one is

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    controller.abort();
    // A `fetch` wrapper may not pass the signal on: cancelling the body still ends a pending read.
    reading?.cancel().catch(() => undefined);
    wake?.();
  };
  const signal = options.signal;
  const unwatch = signal === undefined ? undefined : onAbort(signal, stop);

  let settled = false; // whether `done` has settled
  let rejection: { error: unknown } | undefined; // the first rejection of an async handler, while running
  // An async handler's (or `onOpen`'s) rejection ends the subscription as an exception it throws does, rather
  // than going unhandled (which ends a Node process): `done` rejects with the first, and the later ones of
  // handlers called before it arrived are ignored, as `Promise.all` does. One arriving after the end is left
  // as it is.
  const watch = (returned: unknown): void => {
    if (!isThenable(returned)) return;
    Promise.resolve(returned).then(undefined, (error: unknown) => {
      if (rejection !== undefined) return;
      if (settled) throw error;
      rejection = { error };
      stop();
    });
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });

  // What `promise` gives, or `undefined` as soon as the subscription stops, whether or not `fetch` obeys the signal.
  const unlessStopped = <T>(promise: Promise<T>): Promise<T | undefined> =>
    new Promise<T | undefined>((resolve, reject) => {
      wake = () => resolve(undefined);
      if (stopped) resolve(undefined);
      promise.then(resolve, reject);
    });

  // The headers of one attempt: those of the functions given, called in order (the client's first), with the fixed
  // ones in their place; `undefined` when stopped meanwhile. What a function throws or rejects with ends the
  // subscription (a `HandlerFailure`), as a handler's exception does: a token it cannot get is not the network's
  // failure, and sending the request without it would fail the same way.
  const headersNow = async (): Promise<{ [name: string]: string } | undefined> => {
    const sent: { [name: string]: string } = { accept: "text/event-stream" };
    try {
      for (const source of given) {
        if (typeof source !== "function") {
          setHeaders(sent, source);
          continue;
        }
        const returned = source();
        const values = isThenable(returned) ? await unlessStopped(Promise.resolve(returned)) : returned;
        if (stopped) return undefined;
        setHeaders(sent, values);
      }
    } catch (error) {
      throw new HandlerFailure(error);
    }
    if (jsonBody) sent["content-type"] = "application/json";
    return sent;
  };

  const request = (attempt: { [name: string]: string }): Promise<Response> => {
    const sent = Object.assign({}, attempt);
    if (lastEventId !== "") sent["last-event-id"] = headerValue(lastEventId);
    controller = new AbortController();
    const init: RequestInit = { method, headers: sent, signal: controller.signal };
    if (body !== undefined) init.body = body;
    if (credentials !== undefined) init.credentials = credentials;
    return fetchFunction(url, init);
  };

  // What arrives of an error's body within ERROR_BODY_WAIT, MAX_ERROR_BODY at most: such a body may never end.
  const errorBody = async (response: Response): Promise<string> => {
    if (response.body === null) return "";
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let clear = (): void => undefined;
    const deadline = new Promise<undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), ERROR_BODY_WAIT);
      clear = () => clearTimeout(timer);
      wake = () => resolve(undefined);
    });
    try {
      while (text.length < MAX_ERROR_BODY && !stopped) {
        const chunk = await Promise.race([reader.read(), deadline]);
        if (chunk === undefined) break;
        if (chunk.done) return (text + decoder.decode()).slice(0, MAX_ERROR_BODY);
        text += decoder.decode(chunk.value, { stream: true });
      }
    } catch {
      // The connection failed: the body is what arrived before.
    } finally {
      clear();
      reader.cancel().catch(() => undefined);
    }
    return text.slice(0, MAX_ERROR_BODY);
  };

  // Reads one response to its end; returns the terminal event that arrived, if one did.
  const read = async (response: Response): Promise<AnyEvent | undefined> => {
    const body = response.body;
    if (body === null) return undefined;
    const reader = body.getReader();
    reading = reader;
    try {
      if (stopped) return undefined; // stopped from `onOpen`: no read was pending for `stop` to cancel
      for (;;) {
        const { done, value } = await reader.read();
        if (done || stopped) return undefined;
        for (const message of parser.feed(value)) {
          received = true;
          const encoding = own(route.events, message.event);
          const event = encoding === undefined ? undefined : decode(message.event, message.data, message.id, encoding);
          lastEventId = message.id;
          if (event === undefined) continue; // an event this client was not generated for
          let returned: unknown;
          try {
            returned = handlerOf(handlers, message.event)?.call(handlers, event);
          } catch (error) {
            throw new HandlerFailure(error);
          }
          watch(returned);
          if (terminal.has(message.event)) return event;
          if (stopped) return undefined;
        }
        lastEventId = parser.lastEventId; // every message handled: an `id` in a frame without data counts too
      }
    } finally {
      reading = undefined;
      reader.cancel().catch(() => undefined);
      parser.end();
    }
  };

  const run = async (): Promise<SubscriptionEnd<AnyEvent>> => {
    let failures = 0;
    for (let attempt = 0; ; attempt += 1) {
      if (stopped) return { reason: "aborted" };
      let error: unknown;
      let unavailable = false; // whether the server answered with a status this stream retries
      received = false;
      try {
        const sending = dynamic ? await headersNow() : headers;
        if (sending === undefined || stopped) return { reason: "aborted" };
        const pending = request(sending);
        const response = await unlessStopped(pending);
        if (response === undefined || stopped) {
          // Stopped while the request was pending, through a `fetch` that does not abort on the signal:
          // the response is cancelled unread, whenever it comes.
          pending.then((late) => late.body?.cancel().catch(() => undefined), () => undefined);
          return { reason: "aborted" };
        }
        if (response.status === 204) return { reason: "no-content" };
        // As `EventSource` does with 200: any status but the one the route's stream is sent with fails,
        // without reconnecting (another 2xx too, such as a 206, or a 200 where the document says 201); but a
        // stream that reconnects retries a proxy's 502, 503 or 504 during a deployment, and a 429, from the first
        // request on (a page loaded while the server restarts), as `EventSource` retries a refused connection.
        if (response.status !== (route.status ?? 200)) {
          unavailable = reconnect && UNAVAILABLE.indexOf(response.status) !== -1; // `includes` is ES2016
          throw new SubscribeError(`${method} ${path}: HTTP ${response.status}`, {
            status: response.status,
            body: await errorBody(response),
            retryAfter: retryAfter(response),
          });
        }
        if (!isEventStream(response)) {
          const type = response.headers.get("content-type") ?? "no content type";
          throw new SubscribeError(`${method} ${path}: expected text/event-stream, got ${type}`, {
            status: response.status,
            body: await errorBody(response),
          });
        }
        try {
          watch(options.onOpen?.(response));
        } catch (error) {
          // The body would stay open otherwise: a `fetch` wrapper may not pass the abort signal on.
          response.body?.cancel().catch(() => undefined);
          throw new HandlerFailure(error);
        }
        const event = await read(response);
        if (event !== undefined) return { reason: "event", event };
      } catch (caught) {
        if (caught instanceof HandlerFailure) throw caught.error;
        if (stopped) return { reason: "aborted" };
        if (caught instanceof SubscribeError && !unavailable) throw caught;
        error = caught; // the network failed (fetch rejected, or reading the body did), or the server is unavailable
      }
      if (stopped) return { reason: "aborted" };
      if (!reconnect) {
        if (error === undefined) return { reason: "closed" };
        throw new SubscribeError(`${method} ${path}: the connection failed`, { cause: error });
      }
      failures = received ? 0 : failures + 1;
      const base = parser.retry ?? options.retry ?? defaults.retry ?? DEFAULT_RETRY;
      // The server's delay after a connection that delivered events; doubled for each attempt that did not,
      // from 1 ms at least: doubling a `retry: 0` would hammer a server that is down in a tight loop.
      const backoff = failures > 1 ? Math.max(base, 1) * 2 ** (failures - 1) : base;
      // The server's `Retry-After` is a least delay, kept past `maxRetry`: coming back sooner would be refused again.
      const asked = error instanceof SubscribeError ? error.retryAfter : undefined;
      const bound = Math.max(maxRetry, MAX_RETRY_AFTER);
      const wanted = Math.max(Math.min(backoff, Math.max(base, maxRetry)), Math.min(asked ?? 0, bound));
      // `setTimeout` waits at most MAX_TIMEOUT (a longer delay would be none): `onRetry` is told the delay waited.
      const delay = Math.min(wanted, MAX_TIMEOUT);
      watch(options.onRetry?.(error === undefined ? { delay, attempt: attempt + 1 } : { delay, attempt: attempt + 1, error }));
      if (stopped) return { reason: "aborted" }; // onRetry stopped it: there is no sleep for `stop` to wake yet
      await sleep(delay);
    }
  };

  const done = (signal?.aborted === true ? (stop(), Promise.resolve({ reason: "aborted" as const })) : run()).then(
    (end) => {
      settled = true;
      stop();
      unwatch?.();
      if (rejection === undefined) return end;
      const { error } = rejection;
      report(() => options.onError?.(error));
      throw error;
    },
    (error: unknown) => {
      settled = true;
      stop();
      unwatch?.();
      report(() => options.onError?.(error));
      throw error;
    },
  );
  done.catch(() => undefined); // a caller may rely on `onError` alone: no unhandled rejection
  const subscription = Object.assign(stop, { done }) as unknown as Subscription<never>;
  Object.defineProperty(subscription, "lastEventId", { get: () => lastEventId, enumerable: true });
  return subscription;
}

// The subscriptions each signal stops, and its one listener calling them all: a listener of each, for as many
// subscriptions as share a signal, would make Node warn of a leak past ten ("MaxListenersExceededWarning").
const aborting = new WeakMap<AbortSignal, { stops: Set<() => void>; listener: () => void }>();

// Call `stop` when `signal` aborts; return the function that stops watching (the last removes the listener).
function onAbort(signal: AbortSignal, stop: () => void): () => void {
  let watched = aborting.get(signal);
  if (watched === undefined) {
    const stops = new Set<() => void>();
    const listener = (): void => {
      signal.removeEventListener("abort", listener);
      aborting.delete(signal);
      stops.forEach((each) => each());
    };
    watched = { stops, listener };
    aborting.set(signal, watched);
    signal.addEventListener("abort", listener);
  }
  const { stops, listener } = watched;
  stops.add(stop);
  return () => {
    if (!stops.delete(stop) || stops.size > 0 || aborting.get(signal)?.stops !== stops) return;
    aborting.delete(signal);
    signal.removeEventListener("abort", listener);
  };
}

// A `ReadableStream` (of any realm or polyfill), or an async iterable, such as a Node stream, which Node's `fetch`
// takes as a stream too.
function isStream(value: unknown): boolean {
  if (value === null || typeof value !== "object") return false;
  const asyncIterator = (Symbol as { asyncIterator?: symbol }).asyncIterator; // ES2018
  const members = value as { getReader?: unknown; [key: symbol]: unknown };
  return typeof members.getReader === "function" || (asyncIterator !== undefined && typeof members[asyncIterator] === "function");
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return false;
  return typeof (value as { then?: unknown }).then === "function";
}

// Calls `onError` with a subscription's failure, once it has ended (or a source's, once `listen` has closed it):
// what it throws, or its rejection when it is async, has nothing left to end, and is ignored, rather than
// rejecting `done` in place of the failure it reports, or going unhandled (which ends a Node process).
function report(onError: () => unknown): void {
  let returned: unknown;
  try {
    returned = onError();
  } catch {
    return;
  }
  if (isThenable(returned)) Promise.resolve(returned).then(undefined, () => undefined);
}

/** Carries a handler's exception out of the reading loop, so that it ends the subscription. */
class HandlerFailure {
  readonly error: unknown;

  constructor(error: unknown) {
    this.error = error;
  }
}
