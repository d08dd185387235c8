import { api, bytes, decodeText, get, qs } from "../api";
import { button, card, empty, errorBox, pageHeader, spinner } from "../components";
import { changedLines, numbered } from "../diffview";
import { formatAgo, formatBytes, h, mount } from "../dom";
import { navigate } from "../router";
import { errorText, refreshStatus, toast } from "../store";
import type { Conflict } from "../types";

export function conflictsView(root: HTMLElement): void {
  mount(root, pageHeader("Conflicts"), spinner());
  get<Conflict[]>("/v1/conflicts")
    .then((list) => {
      mount(
        root,
        pageHeader("Conflicts", "Files changed on this machine and on another since they last agreed. Choose what each should be."),
        list.length === 0
          ? empty("No conflicts", "Every file agrees with the remote.", button("Back to Overview", () => navigate("#/overview"), { kind: "primary" }))
          : h("div", { class: "stack" }, ...list.map((c) => conflictCard(c, () => conflictsView(root)))),
      );
    })
    .catch((e) => mount(root, pageHeader("Conflicts"), errorBox(errorText(e))));
}

async function side(c: Conflict, which: "local" | "remote"): Promise<Uint8Array | null> {
  const exists = which === "local" ? c.local_exists : c.remote_exists;
  if (!exists) return null;
  return bytes(`/v1/conflicts/content${qs({ config: c.config_id || c.config, path: c.path, side: which })}`);
}

function conflictCard(c: Conflict, reload: () => void): HTMLElement {
  const body = h("div", null, spinner());
  const status = h("div");
  const resolve = async (keep: "local" | "remote" | "content", content?: string) => {
    mount(status, spinner("Resolving…"));
    try {
      await api("POST", "/v1/conflicts/resolve", { config: c.config_id || c.config, path: c.path, keep, content });
      toast(`Resolved ${c.path}`);
      refreshStatus().catch(() => {});
      reload();
    } catch (e) {
      mount(status, errorBox(errorText(e)));
    }
  };
  Promise.all([side(c, "local"), side(c, "remote")])
    .then(([local, remote]) => {
      const lt = local ? decodeText(local) : "";
      const rt = remote ? decodeText(remote) : "";
      const binary = c.binary || lt === null || rt === null;
      const marks = !binary ? changedLines(lt ?? "", rt ?? "") : { a: new Set<number>(), b: new Set<number>() };
      const pane = (title: string, data: Uint8Array | null, text: string | null, marked: Set<number>, cls: string, testid: string) =>
        h(
          "div",
          { class: `pane ${cls}`, "data-testid": testid },
          h("h3", null, title),
          data === null
            ? h("p", { class: "muted" }, "Deleted on this side.")
            : binary || text === null
              ? h("p", { class: "muted" }, `Binary file, ${formatBytes(data.length)}.`)
              : numbered(text, marked, cls === "mine" ? "mark-del" : "mark-ins"),
        );
      const editor = h("textarea", { class: "editor", rows: "12", spellcheck: "false", "data-testid": "edit-result", "aria-label": "Edited result" });
      editor.value = lt ?? "";
      const editBox = h(
        "div",
        { class: "edit-box", hidden: true },
        h("h3", null, "Edited result"),
        h("p", { class: "muted small" }, "Starts from your version; this text becomes the file on every machine."),
        editor,
        h("div", { class: "form-actions" }, button("Save edited result", () => void resolve("content", editor.value), { kind: "primary", testid: "save-edit" })),
      );
      mount(
        body,
        h(
          "div",
          { class: "side-by-side" },
          pane("Mine (this machine)", local, lt, marks.a, "mine", "pane-mine"),
          pane(c.remote_machine ? `Theirs (from ${c.remote_machine})` : "Theirs (remote)", remote, rt, marks.b, "theirs", "pane-theirs"),
        ),
        h(
          "div",
          { class: "form-actions" },
          button(c.local_exists ? "Keep mine" : "Keep mine (delete)", () => void resolve("local"), { kind: "primary", testid: "keep-mine" }),
          button(c.remote_exists ? "Keep theirs" : "Keep theirs (delete)", () => void resolve("remote"), { testid: "keep-theirs" }),
          !binary
            ? button("Edit the result…", () => {
                editBox.hidden = !editBox.hidden;
                if (!editBox.hidden) editor.focus();
              }, { kind: "ghost", testid: "edit" })
            : null,
        ),
        editBox,
        status,
      );
    })
    .catch((e) => mount(body, errorBox(errorText(e))));
  return card(
    h(
      "div",
      { class: "card-title", "data-testid": "conflict", "data-path": c.path },
      h("h2", { class: "path" }, c.path),
      h("span", { class: "muted" }, `${c.config} · found ${formatAgo(c.detected_at)}`),
    ),
    body,
  );
}
