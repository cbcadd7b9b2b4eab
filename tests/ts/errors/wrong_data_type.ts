// A payload field used as the wrong type: `created_at` is an ISO 8601 string.
import { subscribe } from "./events.js";

subscribe("/echo", { query: { message: "hi" } }, {
  reverse_echo: (e) => {
    const when: number = e.data.created_at;
    console.log(when);
  },
});
