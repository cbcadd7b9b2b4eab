// The demo page: one card per stream listed by /api/streams, each showing its events live.
import { readEventStream } from "./sse.js";

const main = document.querySelector("#streams");
const template = document.querySelector("#stream-card");

class StreamCard {
  constructor(stream) {
    this.stream = stream;
    this.connection = null; // an EventSource, or the AbortController of a fetch
    this.element = template.content.firstElementChild.cloneNode(true);
    this.element.dataset.stream = stream.key;
    this.element.dataset.view = stream.view;
    this.$ = (selector) => this.element.querySelector(selector);

    this.$(".title").textContent = stream.title;
    this.$(".transport").textContent = stream.method === "GET" ? "EventSource" : "fetch";
    this.$(".description").textContent = stream.description;
    this.$(".method").textContent = stream.method;
    this.$(".url").value = stream.url;
    this.$(".docs").href = stream.docs;
    if (stream.body !== null) {
      this.$(".body").hidden = false;
      this.$(".body").value = stream.body;
      this.$(".body").rows = stream.body.split("\n").length;
    }
    for (const name of stream.events) {
      const item = document.createElement("li");
      item.textContent = name;
      item.style.setProperty("--hue", hue(name));
      this.$(".event-names").append(item);
    }
    this.view = views[stream.view](this.$(".view"));

    this.$(".request").addEventListener("submit", (event) => {
      event.preventDefault();
      this.start();
    });
    this.$(".stop").addEventListener("click", () => this.stop("stopped"));
    this.$(".clear").addEventListener("click", () => this.$(".log").replaceChildren());
  }

  start() {
    this.stop();
    this.$(".log").replaceChildren();
    this.view.reset(this);
    this.$(".start").disabled = true;
    this.$(".stop").disabled = false;
    if (this.stream.method === "GET") this.openEventSource(this.$(".url").value);
    else this.fetchStream(this.$(".url").value, this.$(".body").value);
  }

  // GET streams: the browser's EventSource, which reconnects and resumes by itself.
  openEventSource(url) {
    const source = new EventSource(url);
    this.connection = source;
    this.setState("connecting");
    this.note("connecting", `GET ${url}`);
    source.addEventListener("open", () => {
      this.setState("open");
      this.note("open", "connected");
    });
    // EventSource's own `error` event: the connection closed or failed. That is why typedsse's
    // error event has another name, `typedsse.error`, listened to below like any other event.
    source.addEventListener("error", () => {
      if (this.connection !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        this.note("closed", "closed by the server: no more reconnections");
        this.finish("closed");
      } else {
        const resumeFrom = this.lastEventId ? `Last-Event-ID: ${this.lastEventId}` : "no Last-Event-ID";
        this.setState("reconnecting");
        this.note("reconnecting", `stream ended; reconnecting with ${resumeFrom}`);
      }
    });
    for (const name of this.stream.events) {
      source.addEventListener(name, (message) => {
        if (this.connection !== source) return;
        this.lastEventId = message.lastEventId;
        this.receive(name, message.lastEventId, message.data);
      });
    }
  }

  // POST streams: fetch, and a spec-correct reader for the response body.
  async fetchStream(url, body) {
    const controller = new AbortController();
    this.connection = controller;
    this.setState("connecting");
    this.note("connecting", `POST ${url}`);
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body,
        signal: controller.signal,
      });
      const type = response.headers.get("content-type") ?? "";
      if (!response.ok || !type.startsWith("text/event-stream")) {
        // Errors before the first event are ordinary HTTP responses, such as a 422 for a bad body.
        this.note("http-error", `HTTP ${response.status}: ${await response.text()}`);
        this.finish("failed");
        return;
      }
      this.setState("open");
      this.note("open", "connected");
      for await (const message of readEventStream(response.body)) {
        if (this.connection !== controller) return;
        this.receive(message.event, message.id, message.data);
      }
      if (this.connection === controller) {
        this.note("closed", "the server ended the stream");
        this.finish("closed");
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      this.note("network-error", String(error));
      this.finish("failed");
    }
  }

  receive(name, id, data) {
    const item = document.createElement("li");
    item.className = "event";
    item.dataset.event = name;
    item.dataset.id = id;
    item.style.setProperty("--hue", hue(name));
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = name;
    const number = document.createElement("span");
    number.className = "id";
    number.textContent = id ? `#${id}` : "";
    const payload = document.createElement("code");
    payload.className = "data";
    payload.textContent = data;
    item.append(label, number, payload);
    this.append(item);

    let value;
    try {
      value = JSON.parse(data);
    } catch {
      value = data;
    }
    this.view.receive(name, value);
    if (name === "typedsse.error") this.setState("failed");
    if (this.stream.final.includes(name)) {
      const state = name === "typedsse.error" || name === "job.failed" ? "failed" : "done";
      this.stop(state); // a final event: close, or EventSource would reconnect and start over
    }
  }

  note(kind, text) {
    const item = document.createElement("li");
    item.className = "status";
    item.dataset.status = kind;
    item.textContent = text;
    this.append(item);
  }

  append(item) {
    const log = this.$(".log");
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(item);
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  stop(state) {
    const connection = this.connection;
    this.connection = null;
    if (connection === null) return;
    if (connection instanceof EventSource) connection.close();
    else connection.abort();
    if (state) this.finish(state);
  }

  finish(state) {
    this.connection = null;
    this.lastEventId = "";
    this.setState(state);
    this.view.finish(state);
    this.$(".start").disabled = false;
    this.$(".stop").disabled = true;
  }

  setState(state) {
    const badge = this.$(".state");
    badge.dataset.state = state;
    badge.textContent = state;
  }
}

// What a card shows besides its log.
const views = {
  log: () => ({ reset() {}, receive() {}, finish() {} }),

  chat(container) {
    container.innerHTML = '<div class="transcript"><p class="user"></p><p class="assistant"></p></div>';
    const user = container.querySelector(".user");
    const assistant = container.querySelector(".assistant");
    return {
      reset(card) {
        let messages = [];
        try {
          messages = JSON.parse(card.$(".body").value).messages ?? [];
        } catch {
          // an invalid body: the server answers 422, shown in the log
        }
        user.textContent = messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
        assistant.textContent = "";
        assistant.classList.add("typing");
      },
      receive(name, value) {
        if (name === "token") assistant.textContent += value;
        else if (name === "message") assistant.textContent = value.content;
      },
      finish() {
        assistant.classList.remove("typing");
      },
    };
  },

  progress(container) {
    container.innerHTML =
      '<div class="job"><progress max="100" value="0"></progress><span class="stage">not started</span></div>';
    const bar = container.querySelector("progress");
    const stage = container.querySelector(".stage");
    return {
      reset() {
        bar.value = 0;
        bar.classList.remove("failed", "finished");
        stage.textContent = "starting";
      },
      receive(name, value) {
        if (name === "job.progress") {
          bar.value = value.percent;
          stage.textContent = `${value.stage} · ${value.percent}%`;
        } else if (name === "job.result") {
          bar.value = 100;
          bar.classList.add("finished");
          stage.textContent = `finished: ${value.stages.join(" → ")}`;
        } else if (name === "job.failed") {
          bar.classList.add("failed");
          stage.textContent = `failed at ${value.stage}: ${value.reason}`;
        }
      },
      finish() {},
    };
  },
};

// A stable colour per event name, so the same event looks the same everywhere on the page.
function hue(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) % 360;
  return String(hash);
}

async function load() {
  try {
    const response = await fetch("/api/streams");
    if (!response.ok) throw new Error(`GET /api/streams: HTTP ${response.status}`);
    for (const stream of await response.json()) main.append(new StreamCard(stream).element);
    document.body.dataset.ready = "true";
  } catch (error) {
    const message = document.querySelector("#load-error");
    message.textContent = `Could not load the streams: ${error}`;
    message.hidden = false;
  }
}

load();
