// A path with no event stream.
import { subscribe } from "./events.js";

subscribe("/echos", { query: { message: "hi" } }, {});
