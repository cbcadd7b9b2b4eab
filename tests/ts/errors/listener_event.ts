// A native EventSource listener for an event the route does not send.
import { addEventListener, type EventSourceLike } from "./events.js";

declare const source: EventSourceLike;
addEventListener(source, "/echo", "ecco", (e) => console.log(e));
