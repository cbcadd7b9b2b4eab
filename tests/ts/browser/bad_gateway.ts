// The generated client through a deployment behind a proxy, as docs/typescript.md says: the proxy answers the
// first request with 503 and `Retry-After: 1` (a page loaded while the server restarts) and a reconnection with
// 502, which `subscribe` retries on a route that resumes, receiving every event without a gap or a duplicate;
// `EventSource` stops for good on the 502; a 404 still ends the subscription at once.
import { eventSourceUrl, SubscribeError, subscribe } from "./echo.js";

const query = { message: "hello", count: 4, per_connection: 2 };
const base = "/echo";

async function withFetch(): Promise<{ ids: (string | undefined)[]; retries: unknown[]; end: string }> {
  const ids: (string | undefined)[] = [];
  const retries: unknown[] = [];
  const subscription = subscribe(
    "/echo",
    {
      baseUrl: base,
      query,
      retry: 100,
      onRetry: ({ attempt, delay, error }) => {
        retries.push(error instanceof SubscribeError ? [attempt, delay, error.status, error.retryAfter] : [attempt, delay]);
      },
    },
    { echo: (e) => ids.push(e.id), reverse_echo: (e) => ids.push(e.id) },
  );
  const end = await subscription.done;
  return { ids, retries, end: end.reason };
}

async function notFound(): Promise<{ status: number | undefined; retries: number }> {
  let retries = 0;
  const subscription = subscribe("/echo", { baseUrl: "/missing", query, onRetry: () => (retries += 1) }, {});
  const error = await subscription.done.catch((failure: unknown) => failure);
  return { status: error instanceof SubscribeError ? error.status : undefined, retries };
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

const result = { fetch: await withFetch(), notFound: await notFound(), eventSource: await withEventSource() };
Object.assign(window, { typedsseResult: result });
document.body.dataset["done"] = "true";
