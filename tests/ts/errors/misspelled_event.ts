// A handler for an event the route does not send ("ecco" for "echo").
import { subscribe } from "./events.js";

subscribe("/echo", { query: { message: "hi" } }, {
  ecco: (e: unknown) => console.log(e),
});
