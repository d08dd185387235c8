// The desktop app's local page. It asks the app (not the daemon) how things stand, once a
// second, and shows it: starting, not running (with what was last seen), or an error to fix.
"use strict";

const invoke = (cmd, args) => window.__TAURI__.core.invoke(cmd, args);
const $ = (id) => document.getElementById(id);

function ago(unix) {
  const s = Math.max(0, Math.floor(Date.now() / 1000) - unix);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} days ago`;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function renderSeen(seen) {
  $("seen").hidden = !seen || seen.configs.length === 0;
  if (!seen) return;
  $("seen-when").textContent = `(${ago(seen.at)}, on ${seen.machine})`;
  const box = $("configs");
  box.replaceChildren();
  for (const c of seen.configs) {
    const h = el("h3", c.name);
    const bits = [c.state];
    if (c.paused) bits.push("paused");
    if (c.last_sync) bits.push(`last sync ${ago(c.last_sync)}`);
    h.append(" ", el("span", `· ${bits.join(" · ")}`, "muted"));
    box.append(h);
    if (c.last_error) box.append(el("p", c.last_error, "s-error"));
    const table = el("table");
    const conflicted = new Set(c.conflicts.map((x) => x.path));
    for (const f of c.files) {
      const tr = el("tr");
      const state = conflicted.has(f.path) ? "conflict" : f.state;
      tr.append(el("td", f.path), el("td", state, `state s-${state}`));
      table.append(tr);
    }
    for (const f of c.failed_files) {
      const tr = el("tr");
      tr.append(el("td", f.path), el("td", "cannot sync", "state s-error"));
      table.append(tr);
    }
    box.append(table);
  }
}

const TEXT = {
  connecting: ["Looking for dotsync", "Connecting to the dotsync daemon…"],
  starting: ["Starting dotsync", "dotsync was not running; starting it…"],
  online: ["Signing in", "dotsync is running; opening it…"],
  offline: ["dotsync is not running", "Nothing answers. The app checks again every few seconds; start dotsync here, or make it start at login."],
  failed: ["dotsync needs you", "dotsync could not be started or reached:"],
};

async function refresh() {
  let s;
  try {
    s = await invoke("local_state");
  } catch (e) {
    $("message").textContent = String(e);
    return;
  }
  const [title, message] = TEXT[s.phase] ?? TEXT.connecting;
  $("title").textContent = title;
  $("message").textContent = message;
  $("details").hidden = !(s.phase === "failed" || s.phase === "offline") || !s.message;
  $("details").textContent = s.message ?? "";
  const stuck = s.phase === "failed" || s.phase === "offline";
  $("start").hidden = !stuck;
  $("service").hidden = !stuck;
  $("retry").hidden = !stuck;
  $("headline").textContent = `${s.headline} · ${s.addr}`;
  $("config-file").textContent = s.config_file;
  renderSeen(s.last_seen);
}

$("start").addEventListener("click", () => invoke("start_backend").then(refresh));
$("retry").addEventListener("click", () => invoke("retry").then(refresh));
$("quit").addEventListener("click", () => invoke("quit"));
$("service").addEventListener("click", async () => {
  $("details").hidden = false;
  $("details").textContent = "Installing the user service…";
  try {
    $("details").textContent = await invoke("install_service");
  } catch (e) {
    $("details").textContent = String(e);
  }
});

refresh();
setInterval(refresh, 1000);
