import { card, empty, errorBox, pageHeader, spinner } from "../components";
import { formatAgo, h, mount } from "../dom";
import { get } from "../api";
import { errorText, onDaemonEvent } from "../store";
import type { LogLine } from "../types";

/** The daemon's recent sync lines (GET /v1/log), newest first, kept current by the events. */
export function logView(root: HTMLElement): () => void {
  let lines: LogLine[] = [];
  let error: string | null = null;
  let loaded = false;
  let stopped = false;
  let loading = false;
  const render = () => {
    mount(
      root,
      pageHeader("Log", "What the daemon synced lately (since it started), newest first."),
      error
        ? errorBox(error)
        : !loaded
          ? spinner()
          : lines.length === 0
            ? empty("Nothing yet", "Syncs appear here as the daemon runs them.")
            : card(
                h(
                  "table",
                  { class: "table log", "data-testid": "log" },
                  h("thead", null, h("tr", null, h("th", null, "When"), h("th", null, "Config"), h("th", null, "What"))),
                  h(
                    "tbody",
                    null,
                    [...lines].reverse().map((l) =>
                      h(
                        "tr",
                        { "data-kind": l.kind, "data-action": l.action, class: l.action === "error" || l.action === "failed" ? "log-error" : "" },
                        h("td", { class: "muted nowrap" }, formatAgo(l.at)),
                        h("td", null, l.config),
                        h("td", { class: l.kind === "file" ? "path" : "" }, l.text),
                      ),
                    ),
                  ),
                ),
              ),
    );
  };
  const load = () => {
    if (loading || stopped) return;
    loading = true;
    const after = lines.length ? lines[lines.length - 1].seq : 0;
    get<LogLine[]>(`/v1/log?after=${after}&limit=1000`)
      .then((more) => {
        if (stopped) return;
        lines = [...lines, ...more].slice(-1000);
        loaded = true;
        error = null;
        render();
      })
      .catch((e) => {
        error = errorText(e);
        render();
      })
      .finally(() => {
        loading = false;
      });
  };
  render();
  load();
  const off = onDaemonEvent((kind) => {
    if (kind === "sync_finished" || kind === "file" || kind === "sync_started") load();
  });
  const tick = setInterval(render, 30_000);
  return () => {
    stopped = true;
    off();
    clearInterval(tick);
  };
}
