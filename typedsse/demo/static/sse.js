// A `text/event-stream` parser that follows WHATWG HTML, "Server-sent events", to the letter:
// lines end at CRLF, LF or CR (a CR ending one chunk and an LF starting the next are one line
// end), a blank line dispatches the event, comments and unknown fields are ignored, and an
// unterminated last event is discarded. EventSource does all this for GET streams; this is for
// streams it cannot open, such as a POST with a JSON body read with `fetch`.

/** Incremental parser: feed it decoded text, get back the events that text completes. */
export class EventStreamParser {
  constructor() {
    this.lastEventId = "";
    this.retry = null;
    this.partial = "";   // the start of a line whose end has not arrived yet
    this.skipLF = false; // the previous chunk ended with CR: an LF starting this one ends no line
    this.data = [];
    this.type = "";
    this.idBuffer = "";
  }

  /** Parse the next piece of text; return the events it dispatches, as {event, data, id}. */
  feed(text) {
    const events = [];
    if (!text) return events;
    if (this.skipLF && text[0] === "\n") text = text.slice(1);
    this.skipLF = text.endsWith("\r");
    const lineEnd = /\r\n|\r|\n/g;
    let start = 0;
    for (let match = lineEnd.exec(text); match !== null; match = lineEnd.exec(text)) {
      this.#line(this.partial + text.slice(start, match.index), events);
      this.partial = "";
      start = lineEnd.lastIndex;
    }
    this.partial += text.slice(start);
    return events;
  }

  #line(line, events) {
    if (line === "") {
      this.#dispatch(events);
      return;
    }
    if (line[0] === ":") return; // a comment, such as a keep-alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.idBuffer = value;
    else if (field === "retry" && /^[0-9]+$/.test(value)) this.retry = Number(value);
  }

  #dispatch(events) {
    this.lastEventId = this.idBuffer;
    if (this.data.length > 0) {
      events.push({ event: this.type || "message", data: this.data.join("\n"), id: this.lastEventId });
    }
    this.data = [];
    this.type = "";
  }
}

/** Yield the events of a `fetch` response body as they arrive. */
export async function* readEventStream(body) {
  // TextDecoderStream decodes UTF-8 across chunk boundaries and skips a leading byte order mark.
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventStreamParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield* parser.feed(value);
    }
  } finally {
    reader.cancel().catch(() => {}); // the consumer stopped early: close the connection
  }
}
