import { button, card, empty, pageHeader, statePill } from "../components";
import { formatAgo, formatBytes, formatDuration, h, mount } from "../dom";
import { errorText, onDaemonEvent, startSync, store, subscribe, toast, refreshStatus } from "../store";
import { uptimeNow, type LiveConfig } from "../state";
import { navigate } from "../router";
import { api, get } from "../api";
import { changeOrigin, changeWord, needs, type Need } from "../needs";
import { summarizeMachines, type MachinesSummary } from "../machines";
import type { LogLine, MachinesView, SyncConfig } from "../types";

/** Pauses or resumes one config (by id) or, with null, every config. */
async function setPaused(id: string | null, pause: boolean): Promise<void> {
  const verb = pause ? "pause" : "resume";
  const path = id === null ? `/v1/${verb}` : `/v1/config/${encodeURIComponent(id)}/${verb}`;
  try {
    await api("POST", path);
    await refreshStatus();
  } catch (e) {
    toast(errorText(e), "error");
  }
}

export function overview(root: HTMLElement): () => void {
  // GET /v1/machines, refreshed with the clock below; null until it answers (or on a daemon
  // without that route, which then shows no machines card).
  let machines: MachinesSummary | null = null;
  let changes: LogLine[] = [];
  let stopped = false;
  const loadChanges = () => {
    get<LogLine[]>("/v1/log?limit=1000")
      .then((lines) => {
        if (stopped) return;
        changes = lines.filter((l) => l.kind === "file" && changeWord(l.action) !== null).slice(-8).reverse();
        render();
      })
      .catch(() => {});
  };
  const loadMachines = () => {
    get<MachinesView>("/v1/machines")
      .then((v) => {
        if (stopped) return;
        machines = summarizeMachines(v);
        render();
      })
      .catch(() => {});
  };
  const render = () => {
    const live = store.live;
    // Only this tab's own "Sync now" blocks another; the daemon queues behind its own syncs.
    const running = store.run !== null && store.run.source === "app" && !store.run.finished;
    const uptime = uptimeNow(live, Date.now());
    const streamLabel =
      store.stream === "open" ? "live" : store.stream === "connecting" ? "connecting…" : "reconnecting…";
    mount(
      root,
      pageHeader(
        "Overview",
        "Every config and what it is doing, live.",
        live.configs.length === 0
          ? null
          : live.paused_all
            ? button("Resume all", () => void setPaused(null, false), { kind: "ghost", testid: "resume-all" })
            : button("Pause all", () => void setPaused(null, true), { kind: "ghost", testid: "pause-all" }),
        button("Sync all now", () => void startSyncAndShow(null, "all configs"), {
          kind: "primary",
          testid: "sync-all",
          disabled: running || live.configs.length === 0,
        }),
      ),
      h(
        "section",
        { class: "daemon-strip", "data-testid": "daemon-status" },
        h("span", { class: `dot dot-${store.stream}` }),
        h("strong", null, "This machine"),
        live.machine ? h("span", { "data-testid": "machine-name" }, live.machine) : null,
        h("span", { class: "muted", "data-testid": "daemon-addr" }, location.host),
        h("span", null, live.version ? `dotsync ${live.version}` : "…"),
        live.paused_all ? h("span", { class: "pill pill-paused", "data-testid": "paused-all" }, "everything paused") : null,
        uptime !== null && Number.isFinite(uptime) ? h("span", { class: "muted" }, `up ${formatDuration(uptime)}`) : null,
        live.watcher ? h("span", { class: "muted" }, live.watcher.running ? `watching ${live.watcher.watches} folders` : "not watching files") : null,
        h("span", { class: "muted", "data-testid": "stream-state" }, `events: ${streamLabel}`),
      ),
      live.configs.length === 0
        ? empty(
            "No configs yet",
            "A config names the files to keep in sync and the git remote they travel through.",
            button("Create a config", () => navigate("#/configs/new"), { kind: "primary" }),
          )
        : null,
      needsCard(needs(live.configs)),
      live.configs.length === 0 ? null : h("div", { class: "grid" }, ...live.configs.map((c) => configCard(c, running))),
      live.configs.length > 0 ? changesCard(changes) : null,
      machines && live.configs.length > 0 ? machinesCard(machines) : null,
    );
  };
  render();
  loadMachines();
  loadChanges();
  const unsub = subscribe(render);
  const offEvents = onDaemonEvent((kind) => {
    if (kind === "sync_finished") loadChanges();
  });
  // Relative times ("2 min ago") age without events; who is reachable changes without them.
  const tick = setInterval(() => {
    render();
    loadMachines();
  }, 15_000);
  return () => {
    stopped = true;
    unsub();
    offEvents();
    clearInterval(tick);
  };
}

function machinesCard(m: MachinesSummary): HTMLElement {
  const el = card(
    h("div", { class: "card-title", "data-testid": "machines-card" }, h("h2", null, "Machines")),
    h("h3", { class: "small" }, "This machine"),
    h(
      "dl",
      { class: "facts" },
      h("dt", null, "Name"),
      h("dd", { "data-testid": "this-machine" }, m.name),
      h("dt", null, "Version"),
      h("dd", null, `dotsync ${m.version}`),
      h("dt", null, "Told by"),
      h("dd", null, m.channels.join(" · ") || "nothing"),
    ),
    m.problems.length > 0
      ? h("ul", { class: "alert alert-error small" }, m.problems.map((p) => h("li", null, p)))
      : null,
    h("h3", { class: "small" }, "Other machines"),
    m.others.length === 0
      ? h("p", { class: "muted small" }, "None yet: they appear once they have synced a remote this machine syncs.")
      : h(
          "dl",
          { class: "facts", "data-testid": "other-machines" },
          m.others.map((o) => [
            h("dt", { "data-machine": o.name }, o.name),
            h(
              "dd",
              null,
              o.reachable ? `reachable (${o.via ?? "?"})` : "not reachable",
              ` · ${o.version ? `dotsync ${o.version}` : "version unknown"}`,
              ` · seen ${formatAgo(o.last_seen)}`,
              h("span", { class: "muted" }, ` · ${o.configs.join(", ")}`),
            ),
          ]),
        ),
  );
  el.classList.add("machines-card");
  return el;
}

/** What waits for the person, each with its way out; nothing when all is well. */
function needsCard(list: Need[]): HTMLElement | null {
  if (list.length === 0) return null;
  const el = card(
    h("div", { class: "card-title" }, h("h2", null, "Needs you")),
    h(
      "ul",
      { class: "needs", "data-testid": "needs-you" },
      list.map((n) =>
        h(
          "li",
          { "data-kind": n.kind, class: `need need-${n.kind}` },
          h("strong", null, `${n.config}: `),
          n.text,
          h("div", { class: "muted small" }, n.href ? h("a", { href: n.href }, n.action) : n.action),
          n.details ? h("details", { class: "small" }, h("summary", null, "Details"), h("code", null, n.details)) : null,
        ),
      ),
    ),
  );
  el.classList.add("needs-card");
  return el;
}

/** The latest files that travelled, across configs. */
function changesCard(lines: LogLine[]): HTMLElement {
  const me = store.live.machine ?? "this machine";
  return card(
    h("div", { class: "card-title" }, h("h2", null, "Recent changes"), h("a", { href: "#/log", class: "small" }, "Log")),
    lines.length === 0
      ? h("p", { class: "muted small" }, "No file has travelled yet.")
      : h(
          "ul",
          { class: "changes", "data-testid": "recent-changes" },
          lines.map((l) =>
            h(
              "li",
              { "data-action": l.action },
              h("span", { class: "path" }, l.path ?? ""),
              " ",
              h("span", { class: `pill pill-action-${l.action}` }, changeWord(l.action) ?? l.action),
              h(
                "span",
                { class: "muted" },
                ` · ${l.config} · ${changeOrigin(l, me)} · ${formatAgo(l.at)}`,
              ),
            ),
          ),
        ),
  );
}

function configOf(id: string): SyncConfig | undefined {
  return (store.configs ?? []).find((c) => c.id === id);
}

function configCard(c: LiveConfig, running: boolean): HTMLElement {
  const cfg = configOf(c.id);
  return card(
    h(
      "div",
      { class: "card-title", "data-testid": "config-card", "data-config": c.name },
      h("h2", null, c.name),
      c.paused ? h("span", { class: "pill pill-paused", "data-testid": "paused" }, "paused") : null,
      statePill(c.state),
    ),
    c.state === "syncing"
      ? h(
          "p",
          { class: "current-file", "data-testid": "current-file" },
          h("span", { class: "spin small" }),
          c.current_file ? c.current_file : c.trigger ? `starting (${c.trigger})…` : "starting…",
        )
      : null,
    h(
      "dl",
      { class: "facts" },
      cfg ? [h("dt", null, "Remote"), h("dd", { class: "path" }, cfg.remote)] : null,
      cfg ? [h("dt", null, "Paths"), h("dd", { class: "path" }, cfg.paths.join(" "))] : null,
      [h("dt", null, "Syncs"), h("dd", null, c.paused ? "paused: only when asked" : c.auto ? "by itself" : "when asked")],
      [h("dt", null, "Files"), h("dd", { "data-testid": "file-count" }, `${c.files} · ${formatBytes(c.bytes)}`)],
      h("dt", null, "Last sync"),
      h("dd", { "data-testid": "last-sync" }, formatAgo(c.last_sync)),
      [h("dt", null, "Local changes"), h("dd", null, c.pending_changes ? `${c.pending_changes} waiting` : "none")],
      typeof c.retry_in_s === "number" ? [h("dt", null, "Retry"), h("dd", null, `in ${formatDuration(c.retry_in_s)}`)] : null,
      h("dt", null, "Conflicts"),
      h("dd", null, c.conflicts ? h("a", { href: "#/conflicts" }, String(c.conflicts)) : "0"),
    ),
    c.last_error ? h("p", { class: "alert alert-error small", "data-testid": "last-error" }, c.last_error) : null,
    c.last_error_kind === "rewound"
      ? h(
          "div",
          { class: "card-actions", "data-testid": "rewound-choices" },
          button("Push this machine's files back", () => void startSyncAndShow(c.id, c.name, "push-local"), {
            kind: "primary",
            testid: "rewind-push-local",
          }),
          button("Take the remote's files", () => void startSyncAndShow(c.id, c.name, "take-remote"), {
            kind: "ghost",
            testid: "rewind-take-remote",
          }),
        )
      : null,
    c.failed_files && c.failed_files.length > 0
      ? h(
          "ul",
          { class: "alert alert-error small", "data-testid": "failed-files" },
          c.failed_files.map((f) => h("li", null, `~/${f.path}: ${f.reason}`)),
        )
      : null,
    h(
      "div",
      { class: "card-actions" },
      button("Sync now", () => void startSyncAndShow(c.id, c.name), {
        kind: "primary",
        testid: "sync-now",
        disabled: running || c.state === "syncing",
      }),
      c.paused
        ? button("Resume", () => void setPaused(c.id, false), { kind: "ghost", testid: "resume", disabled: store.live.paused_all })
        : button("Pause", () => void setPaused(c.id, true), { kind: "ghost", testid: "pause" }),
      button("Files", () => navigate(`#/files/${encodeURIComponent(c.id)}`), { kind: "ghost" }),
      button("Edit", () => navigate(`#/configs/${encodeURIComponent(c.id)}`), { kind: "ghost" }),
    ),
  );
}

export async function startSyncAndShow(
  target: string | null,
  label: string,
  rewind?: "push-local" | "take-remote",
): Promise<void> {
  navigate("#/sync");
  await startSync(target, label, rewind);
}
