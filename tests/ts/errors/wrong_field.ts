// A misspelled payload field.
import { subscribe } from "./events.js";

subscribe("/echo", { query: { message: "hi" } }, {
  echo: (e) => console.log(e.data.mesage),
});
