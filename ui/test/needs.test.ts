import { describe, expect, it } from "vitest";
import { changeOrigin, changeWord, needs, splitError, wayOut } from "../src/needs";
import type { LogLine } from "../src/types";
import { configStatus } from "./fixtures";

const base = configStatus();

describe("needs", () => {
  it("lists conflicts, failed files and errors with their way out, not a remote that is down", () => {
    const list = needs([
      { ...base, conflicts: 2, failed_files: [{ path: ".a", reason: "a directory is in the way", since: 1 }] },
      { ...base, id: "cfg_2", name: "work", state: "error", last_error: "there is no git repository at /x: create it (git: fatal: no)", last_error_kind: "remote_not_found" },
      { ...base, id: "cfg_3", name: "off", state: "offline", last_error: "the remote cannot be reached", last_error_kind: "offline" },
    ]);
    expect(list.map((n) => n.kind)).toEqual(["conflict", "failed-file", "error"]);
    expect(list[0].text).toBe("2 files in conflict");
    expect(list[1].text).toBe("~/.a could not be synced: a directory is in the way");
    expect(list[2].text).toBe("there is no git repository at /x: create it");
    expect(list[2].details).toBe("fatal: no");
    expect(list[2].action).toContain("git init --bare -b main");
  });

  it("splits git's details off an error and words the ways out", () => {
    expect(splitError("plain")).toEqual({ sentence: "plain", details: null });
    expect(wayOut("offline")).toContain("retries by itself");
    expect(changeWord("pulled")).toBe("received");
    expect(changeWord("skipped")).toBeNull();
  });
});

describe("changeOrigin", () => {
  const line = (action: string, machine?: string): LogLine => ({
    seq: 1, at: 0, config: "dots", kind: "file", action, path: "~/.zshrc", machine, text: "",
  });
  it("names the machine the daemon gives", () => {
    expect(changeOrigin(line("pulled", "desk"), "laptop")).toBe("from desk");
    expect(changeOrigin(line("pushed", "laptop"), "laptop")).toBe("from laptop");
  });
  it("falls back to what the action implies", () => {
    expect(changeOrigin(line("pushed"), "laptop")).toBe("from laptop");
    expect(changeOrigin(line("pulled"), "laptop")).toBe("from another machine");
    expect(changeOrigin(line("conflict"), "laptop")).toBe("here");
  });
});
