// Compile-time checks of the generated types: this file compiles only if inference is as documented.
import { subscribe } from "./echo.js";
import * as chat from "./chat.js";
import * as echo from "./echo.js";
import * as features from "./features.js";
import * as progress from "./progress.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | undefined {
  return undefined;
}

// The usage the design promises, verbatim.
const stop = subscribe("/echo", { query: { message: "hi" } }, {
  echo: (e) => console.log(e.id, e.data.message),
  reverse_echo: (e) => console.log(e.data.created_at),
});
stop();

// Each handler receives exactly its event.
echo.subscribe("/echo", { query: { message: "hi" } }, {
  echo: (e) => expectType<Equal<typeof e, echo.Echo>>(),
  "typedsse.error": (e) => expectType<Equal<typeof e.data, echo.ErrorPayload>>(),
});
expectType<Equal<echo.StreamEvent<"/echo">, echo.Echo | echo.ReverseEcho | echo.StreamError>>();
expectType<Equal<echo.StreamEvent<"/echo">["id"], string | undefined>>();

// A null payload, a string payload, a required body.
chat.subscribe("/chat", { body: { messages: [{ role: "user", content: "hi" }] }, until: ["done"] }, {
  token: (e) => expectType<Equal<typeof e.data, string>>(),
  done: (e) => expectType<Equal<typeof e.data, null>>(),
});
expectType<Equal<chat.Streams["/chat"]["POST"]["body"], chat.ChatRequest>>();

// Path parameters and names with dots.
progress.subscribe("/jobs/{job_id}", { params: { job_id: "1" } }, {
  "job.progress": (e) => expectType<Equal<typeof e.data.stage, "fetch" | "parse" | "validate" | "store">>(),
});

// Several methods on one path: the option selects the route, its request and its events.
features.subscribe(
  "/rooms/{room}",
  { method: "POST", params: { room: 1 }, body: { pet: { kind: "dog" }, either: 1, pair: [1, "a"], many: [], class: "c" } },
  { "pet.petted": (e) => expectType<Equal<typeof e.data, features.Pet_Output>>() },
);
features.subscribe("/rooms/{room}", { method: "GET", params: { room: 1 }, headers: { "x-token": "t" } }, {
  line: (e) => expectType<Equal<typeof e.data, string>>(),
  grown: (e) => expectType<Equal<typeof e.data.children, features.Node_Output[] | undefined>>(),
});
// Headers given by a function, sync or async, are typed as those given as an object: a required one stays required.
features.subscribe("/rooms/{room}", { method: "GET", params: { room: 1 }, headers: async () => ({ "x-token": "t" }) }, {});
features.subscribe("/rooms/{room}", { method: "GET", params: { room: 1 }, headers: () => ({ "x-token": "t", authorization: null }) }, {});
// @ts-expect-error a function's headers lack the required `x-token`.
features.subscribe("/rooms/{room}", { method: "GET", params: { room: 1 }, headers: () => ({ authorization: "a" }) }, {});
// @ts-expect-error so do an async function's.
features.subscribe("/rooms/{room}", { method: "GET", params: { room: 1 }, headers: async () => ({}) }, {});
features.createClient({ headers: async () => ({ Authorization: "Bearer t" }) });
echo.createClient({ headers: () => ({ Authorization: "Bearer t" }) }).subscribe("/echo", { query: { message: "hi" }, headers: () => ({}) }, {});
expectType<Equal<features.StreamMethod<"/rooms/{room}">, "GET" | "POST">>();
expectType<Equal<features.DefaultMethod<"/rooms/{room}">, never>>();

// The subscription's end is typed by the route's events.
void echo.subscribe("/echo", { query: { message: "hi" } }, {}).done.then((end) => {
  if (end.reason === "event") expectType<Equal<typeof end.event, echo.StreamEvent<"/echo">>>();
});

// Native EventSource: a structural type, so this file needs no DOM types of its own.
declare const source: echo.EventSourceLike;
echo.addEventListener(source, "/echo", "reverse_echo", (e) => expectType<Equal<typeof e, echo.ReverseEcho>>());
const remove = echo.listen(source, "/echo", { echo: (e) => e.data.message }, { until: ["echo"] });
remove();
const url: string = echo.eventSourceUrl("/echo", { baseUrl: "https://example.com", query: { message: "hi" } });
console.log(url);

// Options given as variables that may be undefined, as under `exactOptionalPropertyTypes`:
// an explicit `undefined` means "not given" for every optional option, part and handler.
declare const maybeText: string | undefined;
declare const maybeNumber: number | undefined;
declare const maybeSignal: AbortSignal | undefined;
declare const maybeHandler: ((e: echo.Echo) => void) | undefined;
echo.subscribe(
  "/echo",
  {
    method: undefined,
    query: { message: "hi", count: maybeNumber, per_connection: undefined },
    headers: undefined,
    baseUrl: maybeText,
    fetch: undefined,
    retry: maybeNumber,
    maxRetry: undefined,
    signal: maybeSignal,
    lastEventId: maybeText,
    reconnect: undefined,
    until: undefined,
    onOpen: undefined,
    onRetry: undefined,
    onError: undefined,
  },
  { echo: maybeHandler, reverse_echo: undefined },
);
echo.createClient({ baseUrl: maybeText, retry: undefined });
echo.listen(source, "/echo", { echo: maybeHandler }, { until: undefined, onError: undefined });
console.log(echo.eventSourceUrl("/echo", { baseUrl: maybeText, query: { message: "hi", count: maybeNumber } }));
progress.subscribe("/jobs/{job_id}", { params: { job_id: "1" }, query: undefined }, {});

// What tests/ts/errors does not cover: each line below must fail to compile.
// @ts-expect-error `listen` takes handlers for the route's events only.
echo.listen(source, "/echo", { ecco: () => undefined });
// @ts-expect-error a handler of `listen` reads its event's payload fields only.
echo.listen(source, "/echo", { echo: (e) => e.data.mesage });
// @ts-expect-error `until` of `listen` names the route's events only.
echo.listen(source, "/echo", {}, { until: ["ecco"] });
// @ts-expect-error a client's `subscribe` is as typed as `subscribe`.
echo.createClient().subscribe("/echo", { query: { message: "hi" } }, { echo: (e) => e.data.mesage });
// @ts-expect-error an `EventSource` sends no body: a POST-only stream has no URL for it.
chat.eventSourceUrl("/chat", {});
// @ts-expect-error nor listeners.
chat.listen(source, "/chat", {});
// @ts-expect-error a path with two streaming methods needs `method`.
features.subscribe("/rooms/{room}", { params: { room: 1 }, headers: { "x-token": "t" } }, {});
// @ts-expect-error a GET stream takes no body.
echo.subscribe("/echo", { query: { message: "hi" }, body: { message: "hi" } }, {});
// @ts-expect-error a handler receives its own event, not another.
echo.subscribe("/echo", { query: { message: "hi" } }, { echo: (e: echo.ReverseEcho) => e });
// @ts-expect-error an event's `id` may be absent.
echo.subscribe("/echo", { query: { message: "hi" } }, { echo: (e) => e.id.length });
