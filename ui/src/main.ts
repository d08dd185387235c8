import "./style.css";
import { ApiError, get } from "./api";
import { h, mount } from "./dom";
import { parseRoute, setRerender, type Route } from "./router";
import { adoptToken, csrfToken } from "./session";
import {
  connectEvents,
  loadConfigs,
  loadSettings,
  onDaemonEvent,
  refreshStatus,
  store,
  subscribe,
  toast,
} from "./store";
import { isObj, totalConflicts } from "./state";
import { applyTheme, cachedTheme } from "./theme";
import { configEditor, configList } from "./views/configs";
import { conflictsView } from "./views/conflicts";
import { filesView } from "./views/files";
import { loginView } from "./views/login";
import { logView } from "./views/log";
import { overview } from "./views/overview";
import { settingsView } from "./views/settings";
import { syncView } from "./views/syncview";

// First of all: a sign-in link's token leaves the address bar for this tab's sessionStorage.
adoptToken();
applyTheme(cachedTheme());

const NAV: [Route["name"], string, string][] = [
  ["overview", "#/overview", "Overview"],
  ["sync", "#/sync", "Live sync"],
  ["configs", "#/configs", "Configs"],
  ["files", "#/files", "Files"],
  ["conflicts", "#/conflicts", "Conflicts"],
  ["log", "#/log", "Log"],
  ["settings", "#/settings", "Settings"],
];

const main = h("main", { class: "content", id: "content", tabindex: "-1" });
const nav = h("nav", { class: "nav", "aria-label": "Sections" });
const toasts = h("div", { class: "toasts", "aria-live": "polite" });
const footer = h("div", { class: "sidebar-foot" });
const shell = h(
  "div",
  { class: "shell" },
  h("aside", { class: "sidebar" }, h("a", { class: "brand", href: "#/overview" }, h("span", { class: "logo" }), "dotsync"), nav, footer),
  main,
);

function renderChrome(route: Route): void {
  const conflicts = totalConflicts(store.live);
  const active = route.name === "config-new" || route.name === "config-edit" ? "configs" : route.name;
  mount(
    nav,
    ...NAV.map(([name, href, label]) =>
      h(
        "a",
        { href, class: name === active ? "active" : "", "aria-current": name === active ? "page" : undefined, "data-nav": name },
        label,
        name === "conflicts" && conflicts > 0 ? h("span", { class: "badge", "data-testid": "conflict-badge" }, String(conflicts)) : null,
        name === "sync" && store.run && !store.run.finished ? h("span", { class: "spin small" }) : null,
      ),
    ),
  );
  mount(
    footer,
    h("span", { class: `dot dot-${store.stream}` }),
    store.stream === "open" ? "Connected" : store.stream === "connecting" ? "Connecting…" : "Offline, retrying",
    store.live.version ? h("span", { class: "muted" }, ` · v${store.live.version}`) : null,
  );
  mount(toasts, ...store.toasts.map((t) => h("div", { class: `toast toast-${t.kind}`, role: "status" }, t.text)));
}

let cleanup: (() => void) | void = undefined;
let currentKey = "";

function renderRoute(force = false): void {
  const route = parseRoute(location.hash);
  if (store.signed_in === false && route.name !== "login") {
    if (typeof cleanup === "function") cleanup();
    cleanup = undefined;
    currentKey = "login";
    mount(document.body, h("div", { class: "login-page" }, main), toasts);
    loginView(main, store.signed_out_reason);
    return;
  }
  if (route.name === "login") {
    if (typeof cleanup === "function") cleanup();
    cleanup = undefined;
    currentKey = location.hash;
    mount(document.body, h("div", { class: "login-page" }, main), toasts);
    loginView(main, route.expired ? "expired" : null);
    return;
  }
  if (!document.body.contains(shell)) mount(document.body, shell, toasts);
  renderChrome(route);
  const key = location.hash || "#/overview";
  if (!force && key === currentKey) return;
  currentKey = key;
  if (typeof cleanup === "function") cleanup();
  cleanup = undefined;
  main.replaceChildren();
  switch (route.name) {
    case "overview":
      cleanup = overview(main);
      break;
    case "configs":
      configList(main);
      break;
    case "config-new":
      configEditor(main);
      break;
    case "config-edit":
      configEditor(main, route.id);
      break;
    case "sync":
      cleanup = syncView(main);
      break;
    case "files":
      filesView(main, route.config, route.path);
      break;
    case "conflicts":
      conflictsView(main);
      break;
    case "settings":
      settingsView(main);
      break;
    case "log":
      cleanup = logView(main);
      break;
  }
}

setRerender(() => renderRoute(true));
window.addEventListener("hashchange", () => renderRoute());
subscribe(() => {
  const route = parseRoute(location.hash);
  if (store.signed_in === false && currentKey !== "login" && route.name !== "login") {
    renderRoute(true);
    return;
  }
  if (document.body.contains(shell)) renderChrome(route);
});

function notify(title: string, body: string): void {
  if (!store.settings?.notifications) return;
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible" && document.hasFocus()) return;
  try {
    new Notification(title, { body, tag: `dotsync-${title}` });
  } catch {
    // Some browsers allow notifications only from a service worker; the toast still shows.
  }
}

onDaemonEvent((kind, data) => {
  const inner = (isObj(data) ? data : {}) as Record<string, unknown>;
  const config = typeof inner.config === "string" ? inner.config : "";
  if (kind === "conflict") {
    const msg = `${config}: ${String(inner.path ?? "a file")} changed on both sides`;
    toast(msg, "error");
    notify("dotsync: conflict", msg);
  } else if (kind === "sync_finished" && inner.ok === false) {
    const msg = `${config}: ${String(inner.error ?? "the sync failed")}`;
    toast(msg, "error");
    notify("dotsync: sync failed", msg);
  } else if (kind === "settings_changed" && typeof inner.theme === "string") {
    applyTheme(inner.theme as "light" | "dark" | "system");
  }
});

async function start(): Promise<void> {
  const route = parseRoute(location.hash);
  if (route.name === "login") {
    renderRoute(true);
    return;
  }
  if (!csrfToken()) {
    // No token in this tab: the session cookie alone would be refused, so don't even ask.
    store.signed_in = false;
    store.signed_out_reason = "no-token";
    renderRoute(true);
    return;
  }
  mount(document.body, h("div", { class: "boot" }, h("span", { class: "spin" }), "Connecting to dotsync…"));
  try {
    await get("/v1/session");
    store.signed_in = true;
  } catch (e) {
    store.signed_in = false;
    if (!store.signed_out_reason) store.signed_out_reason = e instanceof ApiError && e.status === 0 ? "offline" : "ended";
    renderRoute(true);
    return;
  }
  renderRoute(true);
  connectEvents();
  await Promise.allSettled([refreshStatus(), loadConfigs()]);
  const s = await loadSettings();
  if (s) applyTheme(s.theme);
}

void start();
