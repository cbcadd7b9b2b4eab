// The generated clients on a page of another origin than the API's, sending the page's cookies, as
// docs/typescript.md says: `subscribe` with `credentials: "include"` (a subscription's, or its client's),
// `EventSource` with `withCredentials`; the POST stream with its JSON body needs a preflight, the resumed one too.
import { subscribe as subscribeChat } from "./chat.js";
import { createClient, eventSourceUrl, listen } from "./echo.js";

const api = new URLSearchParams(location.search).get("api") ?? "";

async function chat(): Promise<{ reason: string; reply: string }> {
  const tokens: string[] = [];
  const subscription = subscribeChat(
    "/chat",
    {
      baseUrl: `${api}/chat`,
      credentials: "include",
      body: { messages: [{ role: "user", content: "Hello there" }] },
      until: ["done"],
    },
    { token: (e) => tokens.push(e.data) },
  );
  const end = await subscription.done;
  return { reason: end.reason, reply: tokens.join("") };
}

async function echoFetch(): Promise<{ reason: string; ids: (string | undefined)[] }> {
  const ids: (string | undefined)[] = [];
  const query = { message: "hello", count: 4, per_connection: 2 };
  const client = createClient({ baseUrl: `${api}/echo`, credentials: "include" });
  const subscription = client.subscribe("/echo", { query }, {
    echo: (e) => ids.push(e.id),
    reverse_echo: (e) => ids.push(e.id),
  });
  const end = await subscription.done;
  return { reason: end.reason, ids };
}

function echoEventSource(): Promise<(string | undefined)[]> {
  const ids: (string | undefined)[] = [];
  const url = eventSourceUrl("/echo", { baseUrl: `${api}/echo`, query: { message: "hello", count: 4, per_connection: 2 } });
  const source = new EventSource(url, { withCredentials: true });
  listen(source, "/echo", { echo: (e) => ids.push(e.id), reverse_echo: (e) => ids.push(e.id) });
  return new Promise((resolve) => {
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) resolve(ids);
    });
  });
}

const result = { chat: await chat(), fetch: await echoFetch(), eventSource: await echoEventSource() };
Object.assign(window, { typedsseResult: result });
document.body.dataset["done"] = "true";
