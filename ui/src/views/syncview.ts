import { splitError } from "../needs";
import { actionPill, button, card, empty, pageHeader } from "../components";
import { formatBytes, h, mount } from "../dom";
import { store, subscribe } from "../store";
import { fraction, runOk, totals, type SyncRun } from "../syncrun";
import { navigate } from "../router";
import { triggerText } from "../follow";

/** The live view of the running (or last) sync: this tab's "Sync now", or one the daemon ran
 * for the watcher, the schedule or another client. */
export function syncView(root: HTMLElement): () => void {
  const list = h("tbody");
  let shown = 0;
  let shownRun: SyncRun | null = null;
  const top = h("div");
  const bottom = h("div");
  const table = h(
    "table",
    { class: "table files-table", "data-testid": "sync-files" },
    h("thead", null, h("tr", null, h("th", null, "Result"), h("th", null, "File"), h("th", { class: "num" }, "Size"), h("th", null, "Detail"))),
    list,
  );

  const render = () => {
    const r = store.run;
    if (!r) {
      mount(
        root,
        pageHeader("Live sync"),
        empty("No sync running", "Start one from the Overview, or save a file the daemon watches: each file shows here as it is synced.", button("Go to Overview", () => navigate("#/overview"), { kind: "primary" })),
      );
      shownRun = null;
      return;
    }
    if (shownRun === null || r.started_at !== shownRun.started_at) {
      // A new run: rebuild the page.
      list.replaceChildren();
      shown = 0;
      const subtitle = r.source === "daemon" ? `Syncing ${r.label}, started by ${triggerText(r.starts[0]?.trigger)}` : `Syncing ${r.label}`;
      mount(root, pageHeader("Live sync", subtitle), top, bottom, card(h("h2", null, "Files"), h("div", { class: "table-scroll" }, table)));
    }
    shownRun = r;
    const pct = Math.round(fraction(r) * 100);
    const start = r.starts[r.starts.length - 1];
    mount(
      top,
      card(
        h(
          "div",
          { class: "sync-head" },
          h("div", null,
            h("h2", null, r.config ?? r.label),
            start ? h("p", { class: "muted" }, `${start.remote} · ${start.branch} · ${start.trigger}`) : null,
          ),
          h("span", { class: `pill ${r.finished ? (runOk(r) ? "pill-idle" : "pill-error") : "pill-syncing"}`, "data-testid": "run-state" },
            r.finished ? (runOk(r) ? "Done" : "Finished with problems") : "Syncing"),
        ),
        h(
          "div",
          { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct), "data-testid": "progress" },
          bar(pct, !r.finished),
        ),
        h(
          "p",
          { class: "current-file", "data-testid": "sync-current" },
          r.finished
            ? failed(r)
              ? "Failed."
              : "Finished."
            : [
                h("span", { class: "phase" }, r.phase ?? "starting"),
                r.total ? ` ${r.done}/${r.total}` : "",
                r.current_file ? [" · ", h("span", { class: "path" }, r.current_file)] : "",
              ],
        ),
        r.error ? errorLine(r.error) : null,
        r.invalid_lines ? h("p", { class: "muted" }, `${r.invalid_lines} line(s) of the stream could not be read.`) : null,
      ),
    );
    for (; shown < r.files.length; shown++) {
      const f = r.files[shown];
      list.appendChild(
        h(
          "tr",
          { "data-testid": "sync-file", "data-action": f.action },
          h("td", null, actionPill(f.action)),
          h("td", { class: "path" }, f.path),
          h("td", { class: "num" }, formatBytes(f.bytes)),
          h("td", { class: "muted" }, f.detail ?? ""),
        ),
      );
    }
    if (r.files.length === 0 && r.finished) {
      list.replaceChildren(
        h(
          "tr",
          null,
          h(
            "td",
            { colspan: "4", class: "muted" },
            failed(r) ? "The sync failed before any file: nothing was changed." : "Nothing to do: every file was already in sync.",
          ),
        ),
      );
    }
    mount(bottom, r.summaries.length ? summaryCard(r) : null);
  };
  render();
  return subscribe(render);
}

function summaryCard(r: SyncRun): HTMLElement {
  const t = totals(r);
  const labels: [string, string][] = [
    ["pushed", "Pushed"],
    ["pulled", "Pulled"],
    ["merged", "Merged"],
    ["deleted", "Deleted"],
    ["conflicts", "Conflicts"],
    ["resolved", "Resolved"],
    ["skipped", "Skipped"],
    ["failed", "Failed"],
    ["files", "Files covered"],
  ];
  return card(
    h("h2", null, "Summary"),
    h(
      "div",
      { class: "stats", "data-testid": "summary" },
      ...labels.map(([k, l]) => h("div", { class: `stat stat-${k}${t[k] ? "" : " zero"}` }, h("strong", { "data-stat": k }, String(t[k])), h("span", null, l))),
    ),
    ...r.summaries.map((s) =>
      h(
        "p",
        { class: s.ok ? "muted" : "alert alert-error" },
        `${s.config}: `,
        s.ok ? `ok in ${s.duration_ms ?? 0} ms` : errorLine(s.error ?? "failed", false),
        s.commit ? [" · commit ", h("code", null, s.commit.slice(0, 10))] : "",
      ),
    ),
    t.conflicts ? button("Resolve conflicts", () => navigate("#/conflicts"), { kind: "primary" }) : null,
  );
}

/** Whether the run as a whole or any config in it failed. */
function failed(r: SyncRun): boolean {
  return r.error !== null || r.summaries.some((s) => !s.ok);
}

/** An error as one sentence, git's details folded away. */
function errorLine(message: string, box = true): HTMLElement {
  const { sentence, details } = splitError(message);
  return h(
    box ? "div" : "span",
    box ? { class: "alert alert-error", role: "alert", "data-testid": "sync-error" } : { "data-testid": "sync-error" },
    sentence,
    details ? h("details", { class: "small" }, h("summary", null, "Details"), h("code", null, details)) : null,
  );
}

/** Inline style attributes are refused by the CSP; the CSSOM is not. */
function bar(pct: number, active: boolean): HTMLElement {
  const el = h("div", { class: `progress-bar${active ? " active" : ""}` });
  el.style.width = `${pct}%`;
  return el;
}
