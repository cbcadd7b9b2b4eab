// The generated client through a deployment behind a proxy, as docs/typescript.md says: the proxy answers a
// reconnection with 502 while the server restarts, on which `EventSource` stops and `subscribe` fails; the
// page subscribes again from `subscription.lastEventId`, and receives the rest without a gap or a duplicate.
import { eventSourceUrl, SubscribeError, subscribe } from "./echo.js";

const query = { message: "hello", count: 4, per_connection: 2 };
const base = "/echo";

function withFetch(): Promise<{ ids: (string | undefined)[]; failures: (number | undefined)[]; end: string }> {
  const ids: (string | undefined)[] = [];
  const failures: (number | undefined)[] = [];
  return new Promise((resolve) => {
    function follow(lastEventId?: string): void {
      const subscription = subscribe("/echo", { baseUrl: base, query, lastEventId }, {
        echo: (e) => ids.push(e.id),
        reverse_echo: (e) => ids.push(e.id),
      });
      subscription.done.then(
        (end) => resolve({ ids, failures, end: end.reason }),
        (error: unknown) => {
          if (error instanceof SubscribeError && error.status !== undefined && error.status >= 502 && error.status <= 504) {
            failures.push(error.status);
            setTimeout(() => follow(subscription.lastEventId), 100);
          }
        },
      );
    }
    follow();
  });
}

function withEventSource(): Promise<(string | undefined)[]> {
  const ids: string[] = [];
  const source = new EventSource(eventSourceUrl("/echo", { baseUrl: base, query }));
  for (const name of ["echo", "reverse_echo"]) source.addEventListener(name, (e) => ids.push(e.lastEventId));
  return new Promise((resolve) => {
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) resolve(ids);
    });
  });
}

const result = { fetch: await withFetch(), eventSource: await withEventSource() };
Object.assign(window, { typedsseResult: result });
document.body.dataset["done"] = "true";
