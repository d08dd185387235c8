import { api, bytes, decodeText, get, qs } from "../api";
import { button, card, confirmButton, empty, errorBox, filePill, pageHeader, spinner } from "../components";
import { diffView } from "../diffview";
import { formatAgo, formatBytes, formatTime, h, mount } from "../dom";
import { navigate } from "../router";
import { errorText, loadConfigs, store, toast } from "../store";
import type { FileEntry, HistoryEntry, SyncConfig } from "../types";

/** Files of a config with their state; a file's versions, diffs and restore. */
export function filesView(root: HTMLElement, configId?: string, openPath?: string): void {
  mount(root, spinner());
  (store.configs ? Promise.resolve(store.configs) : loadConfigs())
    .then((configs) => {
      const cfg = configs.find((c) => c.id === configId || c.name === configId) ?? (configId ? undefined : configs[0]);
      render(root, configs, cfg, openPath);
    })
    .catch((e) => mount(root, errorBox(errorText(e))));
}

function render(root: HTMLElement, configs: SyncConfig[], cfg: SyncConfig | undefined, openPath?: string): void {
  const picker = h(
    "select",
    {
      "aria-label": "Config",
      "data-testid": "files-config",
      onchange: (e: Event) => navigate(`#/files/${encodeURIComponent((e.target as HTMLSelectElement).value)}`),
    },
    ...configs.map((c) => h("option", { value: c.id, selected: c.id === cfg?.id }, c.name)),
  );
  const list = h("div", { class: "files-list" });
  const detail = h("div", { class: "file-detail", "data-testid": "file-detail" });
  mount(
    root,
    pageHeader("Files and history", "What each config covers, every version, and a way back.", configs.length ? picker : null),
    whichBox(configs),
    !cfg
      ? empty("No configs", "Create a config first.", button("New config", () => navigate("#/configs/new"), { kind: "primary" }))
      : h("div", { class: "split" }, card(list), detail),
  );
  if (!cfg) return;
  mount(detail, card(h("p", { class: "muted" }, "Choose a file to see its versions.")));
  mount(list, spinner());
  get<FileEntry[]>(`/v1/files${qs({ config: cfg.id })}`)
    .then((files) => {
      const filter = h("input", { type: "search", placeholder: "Filter files", "aria-label": "Filter files", class: "filter" });
      const body = h("tbody");
      const fill = () => {
        const q = filter.value.trim().toLowerCase();
        mount(
          body,
          ...files
            .filter((f) => !q || f.path.toLowerCase().includes(q))
            .map((f) =>
              h(
                "tr",
                {
                  class: `clickable${f.path === openPath ? " selected" : ""}`,
                  "data-testid": "file-row",
                  "data-path": f.path,
                  onclick: () => navigate(`#/files/${encodeURIComponent(cfg.id)}/${encodeURIComponent(f.path)}`),
                },
                h("td", { class: "path" }, f.path),
                h("td", null, filePill(f.state)),
                h("td", { class: "num" }, formatBytes(f.size)),
              ),
            ),
        );
      };
      filter.addEventListener("input", fill);
      fill();
      mount(
        list,
        h("div", { class: "row" }, h("h2", null, `${files.length} file${files.length === 1 ? "" : "s"}`), filter),
        files.length === 0
          ? h("p", { class: "muted" }, "No files yet: sync the config first, or check its paths.")
          : h("div", { class: "table-scroll" }, h("table", { class: "table" }, h("thead", null, h("tr", null, h("th", null, "Path"), h("th", null, "State"), h("th", { class: "num" }, "Size"))), body)),
      );
    })
    .catch((e) => mount(list, errorBox(errorText(e))));
  if (openPath) fileDetail(detail, cfg, openPath);
}

function whichBox(configs: SyncConfig[]): HTMLElement {
  const out = h("div", { class: "which-result", "data-testid": "which-result", "aria-live": "polite" });
  const inp = h("input", {
    type: "search",
    placeholder: "~/.zshrc, a full path, or a file name",
    "aria-label": "Which config syncs this file?",
    "data-testid": "which-input",
  });
  const ask = async (ev: Event) => {
    ev.preventDefault();
    const q = inp.value.trim();
    if (!q) return;
    mount(out, spinner("Looking…"));
    try {
      const ids = await get<string[]>(`/v1/file/${encodeURIComponent(q)}`);
      const names = ids.map((id) => configs.find((c) => c.id === id)?.name ?? id);
      mount(
        out,
        names.length === 0
          ? h("span", { class: "muted" }, "No config syncs ", h("span", { class: "path" }, q), ".")
          : [
              h("span", { class: "path" }, q),
              " is synced by ",
              ...names.flatMap((n, i) => [
                i ? ", " : "",
                h("a", { href: `#/files/${encodeURIComponent(ids[i])}` }, n),
              ]),
              ".",
            ],
      );
    } catch (e) {
      mount(out, h("span", { class: "field-error" }, errorText(e)));
    }
  };
  return card(
    h(
      "form",
      { class: "which", onsubmit: ask },
      h("label", null, "Which config syncs this file?"),
      h("div", { class: "row" }, inp, h("button", { type: "submit", class: "btn" }, "Find")),
      out,
    ),
  );
}

function fileDetail(el: HTMLElement, cfg: SyncConfig, path: string): void {
  mount(el, card(spinner()));
  const q = (extra: Record<string, string | undefined> = {}) => qs({ config: cfg.id, path, ...extra });
  Promise.all([get<HistoryEntry[]>(`/v1/history${q()}`), bytes(`/v1/content${q()}`).catch(() => null)])
    .then(([history, current]) => {
      const currentText = current ? decodeText(current) : null;
      const diffSlot = h("div", { class: "diff-slot" });
      const versions = h("ul", { class: "versions", "data-testid": "versions" });
      let selected: HTMLElement | null = null;
      const show = async (v: HistoryEntry, li: HTMLElement) => {
        selected?.classList.remove("selected");
        selected = li;
        li.classList.add("selected");
        mount(diffSlot, spinner());
        try {
          const old = await bytes(`/v1/content${q({ rev: v.commit })}`);
          const oldText = decodeText(old);
          mount(
            diffSlot,
            h("div", { class: "row" },
              h("h3", null, "This version → current file"),
              confirmButton("Restore this version", "Really restore? The current file is kept in history", async () => {
                try {
                  await api("POST", "/v1/restore", { config: cfg.id, path, rev: v.commit });
                  toast(`Restored ${path} to the version of ${formatTime(v.time)}`);
                  fileDetail(el, cfg, path);
                } catch (e) {
                  mount(diffSlot, errorBox(errorText(e)));
                }
              }, "restore"),
            ),
            current === null
              ? h("p", { class: "muted" }, "The file does not exist on this machine now; restoring brings it back.")
              : oldText === null || currentText === null
                ? h("p", { class: "muted" }, `Binary file: ${formatBytes(old.length)} in this version, ${formatBytes(current.length)} now.`)
                : diffView(oldText, currentText, [`${v.commit.slice(0, 8)} (${formatTime(v.time)})`, "current"]),
          );
        } catch (e) {
          mount(diffSlot, errorBox(errorText(e)));
        }
      };
      history.forEach((v, i) => {
        const li: HTMLElement = h(
          "li",
          { class: "clickable", "data-testid": "version", "data-commit": v.commit, onclick: () => void show(v, li) },
          h("div", { class: "version-head" }, h("strong", null, formatAgo(v.time)), i === 0 ? h("span", { class: "pill pill-idle" }, "latest") : null),
          h("div", { class: "muted small" }, formatTime(v.time), " · ", v.machine ?? "unknown machine", v.size !== null ? ` · ${formatBytes(v.size)}` : " · deleted"),
          v.message ? h("div", { class: "small clamp", title: v.message }, v.message) : null,
          h("code", { class: "small" }, v.commit.slice(0, 10)),
        );
        versions.appendChild(li);
      });
      mount(
        el,
        card(
          h("h2", { class: "path", "data-testid": "detail-path" }, path),
          h("p", { class: "muted" }, current ? `${formatBytes(current.length)} on this machine` : "not on this machine"),
          history.length === 0 ? h("p", { class: "muted" }, "No versions yet: this file has not been synced.") : h("div", { class: "history" }, versions, diffSlot),
        ),
      );
      if (history.length > 1) {
        // Show the change the latest sync made: from the previous version to now.
        const li = versions.children[1] as HTMLElement;
        void show(history[1], li);
      } else if (history.length === 1) {
        void show(history[0], versions.children[0] as HTMLElement);
      }
    })
    .catch((e) => mount(el, card(errorBox(errorText(e)))));
}
