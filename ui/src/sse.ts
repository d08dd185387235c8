// Server-sent events over fetch rather than EventSource: EventSource cannot send the CSRF
// header that the daemon requires of cookie-authenticated requests. The parser follows the
// HTML standard's event-stream rules (fields, multi-line data, comments, ids, CR/LF/CRLF).

export interface SseMessage {
  /** The `event:` field, `message` when absent. */
  event: string;
  data: string;
  /** The last `id:` seen so far in the stream (the standard's "last event ID"). */
  id: string;
  retry?: number;
}

export class SseParser {
  private buf = "";
  private data: string[] = [];
  private event = "";
  private lastId = "";
  private retry: number | undefined;
  private sawCr = false;

  push(chunk: string): SseMessage[] {
    let text = chunk;
    // A CR at the end of the last chunk may be the first half of CRLF.
    if (this.sawCr && text.startsWith("\n")) text = text.slice(1);
    this.sawCr = text.endsWith("\r");
    this.buf += text;
    const out: SseMessage[] = [];
    const lines = this.buf.split(/\r\n|\r|\n/);
    this.buf = lines.pop() ?? "";
    for (const line of lines) {
      const m = this.line(line);
      if (m) out.push(m);
    }
    return out;
  }

  private line(line: string): SseMessage | null {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "";
        return null;
      }
      const m: SseMessage = {
        event: this.event || "message",
        data: this.data.join("\n"),
        id: this.lastId,
      };
      if (this.retry !== undefined) m.retry = this.retry;
      this.data = [];
      this.event = "";
      return m;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.event = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
    }
    return null;
  }
}

export type StreamState = "connecting" | "open" | "closed";

export interface EventStreamOptions {
  url: string;
  headers: () => Record<string, string>;
  onMessage: (m: SseMessage) => void;
  onState: (s: StreamState, detail?: string) => void;
  /** Called on a 401: the session is gone, stop retrying. */
  onUnauthorized?: () => void;
}

/** A reconnecting event stream that resumes with Last-Event-ID. */
export class EventStream {
  private abort: AbortController | null = null;
  private lastId = "";
  private stopped = false;
  private delay = 500;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private opts: EventStreamOptions) {}

  start(): void {
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
    this.opts.onState("closed");
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.abort = new AbortController();
    this.opts.onState("connecting");
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream", ...this.opts.headers() };
      if (this.lastId) headers["Last-Event-ID"] = this.lastId;
      const resp = await fetch(this.opts.url, {
        headers,
        signal: this.abort.signal,
        credentials: "same-origin",
        cache: "no-store",
      });
      if (resp.status === 401) {
        this.opts.onState("closed", "signed out");
        this.opts.onUnauthorized?.();
        return;
      }
      if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
      this.opts.onState("open");
      this.delay = 500;
      const parser = new SseParser();
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const m of parser.push(decoder.decode(value, { stream: true }))) {
          if (m.id) this.lastId = m.id;
          if (m.retry !== undefined) this.delay = m.retry;
          this.opts.onMessage(m);
        }
      }
      throw new Error("the daemon closed the event stream");
    } catch (e) {
      if (this.stopped) return;
      this.opts.onState("closed", (e as Error).message);
      this.timer = setTimeout(() => void this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10_000);
    }
  }
}
