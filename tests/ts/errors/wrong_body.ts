// A request body that does not match the route's schema.
import { subscribe } from "./chat.js";

subscribe("/chat", { body: { messages: [{ role: "robot", content: "hi" }] } }, {
  token: (e) => console.log(e.data),
});
