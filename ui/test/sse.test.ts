import { describe, expect, it } from "vitest";
import { SseParser } from "../src/sse";

describe("SseParser", () => {
  it("reads events with ids, kinds and JSON data", () => {
    const p = new SseParser();
    const out = p.push('id: 1\nevent: sync_started\ndata: {"config":"dots"}\n\nid: 2\nevent: file\ndata: {"path":"a"}\n\n');
    expect(out).toEqual([
      { event: "sync_started", data: '{"config":"dots"}', id: "1" },
      { event: "file", data: '{"path":"a"}', id: "2" },
    ]);
  });

  it("joins multi-line data, skips comments, defaults the kind", () => {
    const p = new SseParser();
    expect(p.push(": keep-alive\ndata: a\ndata: b\n\n")).toEqual([{ event: "message", data: "a\nb", id: "" }]);
  });

  it("waits for the blank line even when it comes in another chunk, with CRLF split in two", () => {
    const p = new SseParser();
    expect(p.push("id: 7\r")).toEqual([]);
    expect(p.push("\nevent: status\r\ndata: {}\r\n")).toEqual([]);
    expect(p.push("\r\n")).toEqual([{ event: "status", data: "{}", id: "7" }]);
  });

  it("keeps the last id for later events and reads retry", () => {
    const p = new SseParser();
    const out = p.push("id: 5\ndata: x\n\nretry: 3000\ndata: y\n\n");
    expect(out[1]).toEqual({ event: "message", data: "y", id: "5", retry: 3000 });
  });

  it("ignores an event with no data and a field without a value", () => {
    const p = new SseParser();
    expect(p.push("event: lonely\n\ndata\n\n")).toEqual([{ event: "message", data: "", id: "" }]);
  });
});
