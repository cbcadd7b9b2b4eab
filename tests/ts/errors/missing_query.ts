// The route's required query parameter is missing.
import { subscribe } from "./events.js";

subscribe("/echo", {}, {});
