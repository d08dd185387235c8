// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { escapeHtml, formatAgo, formatBytes, h, isSafeUrl, mount } from "../src/dom";
import { diffView } from "../src/diffview";

const XSS = "<img src=x onerror=alert(1)>";

describe("the DOM helpers", () => {
  it("show markup in data as text", () => {
    const el = h("div", null, XSS, h("span", { title: XSS }, XSS));
    expect(el.textContent).toBe(XSS + XSS);
    expect(el.querySelector("img")).toBeNull();
    expect(el.innerHTML).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(el.querySelector("span")!.getAttribute("title")).toBe(XSS);
  });

  it("refuse string event handlers and unsafe URLs", () => {
    expect(() => h("a", { onclick: "alert(1)" as unknown as () => void })).toThrow(/refusing/);
    expect(() => h("a", { href: "javascript:alert(1)" })).toThrow(/unsafe URL/);
    expect(() => h("a", { href: " JAVASCRIPT:alert(1)" })).toThrow(/unsafe URL/);
    expect(h("a", { href: "#/files" }).getAttribute("href")).toBe("#/files");
    expect(isSafeUrl("//evil.example/x")).toBe(false);
  });

  it("wire function handlers as listeners", () => {
    let clicked = 0;
    const b = h("button", { onclick: () => clicked++ }, "go");
    b.click();
    expect(clicked).toBe(1);
  });

  it("mount replaces children", () => {
    const el = h("div", null, "old");
    mount(el, "new", null, false, ["a", h("b", null, "c")]);
    expect(el.textContent).toBe("newac");
  });

  it("escapeHtml escapes the five characters", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  it("render file contents in a diff as text", () => {
    const view = diffView("a\n", `a\n${XSS}\n`, [XSS, "current"]);
    expect(view.querySelector("img")).toBeNull();
    expect(view.textContent).toContain(XSS);
  });

  it("format sizes and times", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(2048)).toBe("2.0 KiB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5.0 MiB");
    expect(formatAgo(null)).toBe("never");
    expect(formatAgo(100, 100_000 + 130_000)).toBe("2 min ago");
  });
});
