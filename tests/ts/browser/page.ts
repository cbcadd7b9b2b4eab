// The generated echo client in a real browser: `subscribe` over fetch, then `listen` on a native EventSource.
import { createClient, eventSourceUrl, listen, type SubscriptionEnd, type StreamEvent } from "./echo.js";

interface Entry {
  event: string;
  id: string | undefined;
  message: string;
}

type EchoEvent = StreamEvent<"/echo">;

const base = "/echo"; // where the test server mounts the echo example
const query = { message: "hello", count: 6, per_connection: 2 };

function entry(event: Exclude<EchoEvent, { event: "typedsse.error" }>): Entry {
  return { event: event.event, id: event.id, message: event.data.message };
}

function show(title: string, entries: readonly Entry[]): void {
  const table = document.createElement("table");
  table.dataset["client"] = title;
  table.innerHTML = "<caption></caption><tr><th>event</th><th>id</th><th>message</th></tr>";
  table.caption!.textContent = title;
  for (const item of entries) {
    const row = table.insertRow();
    for (const value of [item.event, item.id ?? "", item.message]) row.insertCell().textContent = value;
  }
  document.getElementById("results")!.append(table);
}

async function withFetch(): Promise<{ end: SubscriptionEnd<EchoEvent>; entries: Entry[] }> {
  const entries: Entry[] = [];
  const subscription = createClient({ baseUrl: base }).subscribe(
    "/echo",
    { query },
    { echo: (e) => entries.push(entry(e)), reverse_echo: (e) => entries.push(entry(e)) },
  );
  return { end: await subscription.done, entries };
}

function withEventSource(): Promise<Entry[]> {
  const entries: Entry[] = [];
  const source = new EventSource(eventSourceUrl("/echo", { baseUrl: base, query }));
  listen(source, "/echo", { echo: (e) => entries.push(entry(e)), reverse_echo: (e) => entries.push(entry(e)) });
  return new Promise((resolve) => {
    // After the 204 that ends the stream, EventSource gives up: its `error` event, in the CLOSED state.
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) resolve(entries);
    });
  });
}

const fetched = await withFetch();
show("subscribe (fetch)", fetched.entries);
const native = await withEventSource();
show("listen (EventSource)", native);
Object.assign(window, { typedsseResult: { fetchEnd: fetched.end, fetch: fetched.entries, eventSource: native } });
document.body.dataset["done"] = "true";
