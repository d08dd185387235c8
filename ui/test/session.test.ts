// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";
import { authHeaders } from "../src/api";
import { adoptToken, csrfToken, forgetToken, tokenInFragment } from "../src/session";

const TOKEN = "0123456789abcdef".repeat(4);

beforeEach(() => {
  sessionStorage.clear();
  history.replaceState(null, "", "/");
});

describe("the CSRF token", () => {
  it("moves from the sign-in redirect's fragment into sessionStorage, and out of the URL", () => {
    history.replaceState(null, "", `/#csrf=${TOKEN}`);
    const before = history.length;
    expect(adoptToken()).toBe(true);
    expect(location.href).not.toContain(TOKEN);
    expect(location.hash).toBe("");
    expect(location.pathname).toBe("/");
    // Replaced, not pushed: Back does not lead to the URL with the token.
    expect(history.length).toBe(before);
    expect(sessionStorage.getItem("dotsync.csrf")).toBe(TOKEN);
    expect(csrfToken()).toBe(TOKEN);
    expect(authHeaders()).toEqual({ "X-Dotsync-CSRF": TOKEN });
  });

  it("is never read from, or written to, a cookie", () => {
    document.cookie = "dotsync_csrf_80=fromacookie";
    expect(authHeaders()).toEqual({});
    history.replaceState(null, "", `/#csrf=${TOKEN}`);
    adoptToken();
    expect(authHeaders()).toEqual({ "X-Dotsync-CSRF": TOKEN });
    expect(document.cookie).not.toContain(TOKEN);
  });

  it("survives a reload: a page without a fragment keeps the stored token", () => {
    sessionStorage.setItem("dotsync.csrf", TOKEN);
    history.replaceState(null, "", "/#/settings");
    expect(adoptToken()).toBe(false);
    expect(location.hash).toBe("#/settings");
    expect(csrfToken()).toBe(TOKEN);
  });

  it("is absent in a new tab, so the app asks for `dotsync ui` instead of sending requests", () => {
    expect(csrfToken()).toBeNull();
    expect(authHeaders()).toEqual({});
  });

  it("ignores malformed fragments but still takes them out of the URL", () => {
    for (const bad of ["#csrf=", "#csrf=short", `#csrf=${TOKEN}&x=1`, `#csrf=${TOKEN.toUpperCase()}`, "#csrf=<img src=x>"]) {
      history.replaceState(null, "", `/${bad}`);
      expect(adoptToken()).toBe(false);
      expect(location.hash).toBe("");
      expect(csrfToken()).toBeNull();
    }
    expect(tokenInFragment("#/overview")).toBeNull();
    expect(tokenInFragment(`#csrf=${TOKEN}`)).toBe(TOKEN);
  });

  it("a new sign-in replaces the old token; signing out forgets it", () => {
    sessionStorage.setItem("dotsync.csrf", "aa".repeat(32));
    history.replaceState(null, "", `/#csrf=${TOKEN}`);
    adoptToken();
    expect(csrfToken()).toBe(TOKEN);
    forgetToken();
    expect(csrfToken()).toBeNull();
    expect(authHeaders()).toEqual({});
  });

  it("works with injected storage and history (no DOM globals needed)", () => {
    const m = new Map<string, string>();
    const store = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
    const calls: string[] = [];
    const hist = { state: null, replaceState: (_s: unknown, _t: string, url?: string | URL | null) => void calls.push(String(url)) };
    expect(adoptToken({ hash: `#csrf=${TOKEN}`, pathname: "/", search: "" }, hist, store)).toBe(true);
    expect(calls).toEqual(["/"]);
    expect(csrfToken(store)).toBe(TOKEN);
  });
});
