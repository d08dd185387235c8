import type { Theme } from "./types";

/** Applies a theme; `system` follows the OS through the stylesheet's media query. */
export function applyTheme(t: Theme): void {
  const root = document.documentElement;
  if (t === "system") root.removeAttribute("data-theme");
  else root.setAttribute("data-theme", t);
  try {
    localStorage.setItem("dotsync.theme", t);
  } catch {
    // Storage may be off; the theme then applies once settings load.
  }
}

export function cachedTheme(): Theme {
  try {
    const t = localStorage.getItem("dotsync.theme");
    if (t === "light" || t === "dark" || t === "system") return t;
  } catch {
    // ignore
  }
  return "system";
}
