// The only way this app builds DOM: elements and text nodes, never HTML strings. Every string
// that reaches the page (file names, contents, error messages) becomes a text node, so
// `<img src=x onerror=alert(1)>` is shown as those characters. The daemon's CSP also requires
// Trusted Types, so a stray `innerHTML = "..."` would throw rather than parse markup.

export type Child = Node | string | number | null | undefined | false | Child[];

type Listener = (ev: any) => void;
export type Attrs = Record<string, string | number | boolean | null | undefined | Listener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function setAttrs(el: HTMLElement, attrs: Attrs): void {
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) {
      if (typeof value !== "function") {
        throw new Error(`refusing to set ${key} from a string: pass a function`);
      }
      el.addEventListener(key.slice(2).toLowerCase(), value as EventListener);
      continue;
    }
    if (typeof value === "function") throw new Error(`${key} cannot take a function`);
    if (value === null || value === undefined || value === false) continue;
    if (key === "value" && "value" in el) {
      (el as HTMLInputElement).value = String(value);
    } else if (key === "checked" && el instanceof HTMLInputElement) {
      el.checked = Boolean(value);
    } else if (/^(href|src|action|formaction)$/i.test(key) && !isSafeUrl(String(value))) {
      throw new Error(`refusing unsafe URL in ${key}`);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

/** Same-origin paths, fragments and http(s) URLs only: no `javascript:` or `data:`. */
export function isSafeUrl(url: string): boolean {
  const u = url.trim().toLowerCase();
  return u.startsWith("#") || (u.startsWith("/") && !u.startsWith("//")) || /^https?:\/\//.test(u);
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces all children of `el`. */
export function mount(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/**
 * Escapes text for an HTML context. The app never builds HTML from strings; this exists for the
 * few places where text must go into markup produced elsewhere (and for the tests that hold the
 * DOM helpers to the same standard).
 */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;",
  );
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** "3 min ago", "yesterday", or a date; `when` in Unix seconds or an ISO string. */
export function formatAgo(when: number | string | null | undefined, now = Date.now()): string {
  if (when === null || when === undefined || when === "") return "never";
  const ms = typeof when === "number" ? when * 1000 : Date.parse(when);
  if (!Number.isFinite(ms)) return String(when);
  const s = Math.round((now - ms) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 2 * 86400) return "yesterday";
  return new Date(ms).toLocaleString();
}

export function formatTime(when: number | string | null | undefined): string {
  if (when === null || when === undefined || when === "") return "";
  const ms = typeof when === "number" ? when * 1000 : Date.parse(when);
  return Number.isFinite(ms) ? new Date(ms).toLocaleString() : String(when);
}

export function formatDuration(s: number): string {
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}
