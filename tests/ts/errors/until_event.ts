// A terminal event the route does not send.
import { subscribe } from "./chat.js";

subscribe("/chat", { body: { messages: [] }, until: ["finished"] }, {});
