import { ApiError, api, get, qs } from "../api";
import { button, card, confirmButton, empty, errorBox, modal, pageHeader, spinner, statePill } from "../components";
import { formatBytes, h, mount } from "../dom";
import { configToForm, emptyForm, formToInput, placeError, type ConfigForm, type Field, type FieldErrors } from "../form";
import { navigate } from "../router";
import { errorText, loadConfigs, store, toast } from "../store";
import type { FsListing, SyncConfig } from "../types";

export function configList(root: HTMLElement): void {
  mount(root, spinner());
  loadConfigs()
    .then((configs) => {
      const states = new Map(store.live.configs.map((c) => [c.id, c.state]));
      mount(
        root,
        pageHeader("Configs", "What to sync and where.", button("New config", () => navigate("#/configs/new"), { kind: "primary", testid: "new-config" })),
        configs.length === 0
          ? empty("No configs yet", "Create one to start syncing your dotfiles.")
          : card(
              h(
                "table",
                { class: "table" },
                h("thead", null, h("tr", null, h("th", null, "Name"), h("th", null, "State"), h("th", null, "Paths"), h("th", null, "Remote"), h("th", null, "Mode"))),
                h(
                  "tbody",
                  null,
                  ...configs.map((c) =>
                    h(
                      "tr",
                      { class: "clickable", onclick: () => navigate(`#/configs/${encodeURIComponent(c.id)}`) },
                      h("td", null, h("a", { href: `#/configs/${encodeURIComponent(c.id)}` }, c.name)),
                      h("td", null, states.has(c.id) ? statePill(states.get(c.id)!) : ""),
                      h("td", { class: "path" }, c.paths.join("  ")),
                      h("td", { class: "path" }, c.remote),
                      h("td", null, c.auto ? `auto, every ${c.interval_s} s` : "manual", ` · ${c.direction}`),
                    ),
                  ),
                ),
              ),
            ),
      );
    })
    .catch((e) => mount(root, errorBox(errorText(e))));
}

/** The editor for a new config (id undefined) or an existing one. */
export function configEditor(root: HTMLElement, id?: string): void {
  if (!id) {
    renderEditor(root, emptyForm());
    return;
  }
  mount(root, spinner());
  get<SyncConfig>(`/v1/config/${encodeURIComponent(id)}`)
    .then((c) => renderEditor(root, configToForm(c), c))
    .catch((e) => mount(root, pageHeader("Config"), errorBox(errorText(e))));
}

function renderEditor(root: HTMLElement, form: ConfigForm, existing?: SyncConfig): void {
  const errs = new Map<Field, HTMLElement>();
  const errorSlot = (f: Field) => {
    const el = h("p", { class: "field-error", "data-error-for": f, id: `err-${f}`, role: "alert" });
    errs.set(f, el);
    return el;
  };
  const top = h("div");

  const field = (f: Field, label: string, control: HTMLElement, hint?: string) =>
    h(
      "div",
      { class: "field", "data-field": f },
      h("label", { for: `f-${f}` }, label),
      control,
      hint ? h("p", { class: "hint" }, hint) : null,
      errorSlot(f),
    );

  const input = (f: Field, value: string, attrs: Record<string, string> = {}) =>
    h("input", {
      id: `f-${f}`,
      name: f,
      value,
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": `err-${f}`,
      ...attrs,
      oninput: (e: Event) => {
        (form as unknown as Record<string, unknown>)[f] = (e.target as HTMLInputElement).value;
      },
    });

  const select = (f: "direction" | "on_conflict", options: [string, string][]) => {
    const s = h(
      "select",
      {
        id: `f-${f}`,
        name: f,
        onchange: (e: Event) => {
          (form as unknown as Record<string, string>)[f] = (e.target as HTMLSelectElement).value;
        },
      },
      ...options.map(([v, l]) => h("option", { value: v, selected: form[f] === v }, l)),
    );
    return s;
  };

  // The path list: one row per path, typed or picked from the home directory.
  const pathRows = h("ul", { class: "path-list", "data-testid": "path-list" });
  const renderPaths = () => {
    mount(
      pathRows,
      form.paths.length === 0 ? h("li", { class: "muted" }, "No paths yet: type one below or browse your home.") : null,
      ...form.paths.map((p, i) =>
        h(
          "li",
          null,
          h("span", { class: "path" }, p),
          button("Remove", () => {
            form.paths.splice(i, 1);
            renderPaths();
          }, { kind: "ghost", title: `Remove ${p}` }),
        ),
      ),
    );
  };
  renderPaths();
  const newPath = h("input", { id: "f-paths", placeholder: "~/.zshrc or ~/.config/nvim", autocomplete: "off", spellcheck: "false", "aria-describedby": "err-paths" });
  const addTyped = () => {
    const v = newPath.value.trim();
    if (v && !form.paths.includes(v)) form.paths.push(v);
    newPath.value = "";
    renderPaths();
  };
  newPath.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      addTyped();
    }
  });

  const ignore = h("textarea", {
    id: "f-ignore",
    name: "ignore",
    rows: "3",
    spellcheck: "false",
    placeholder: "*.log\n.config/nvim/plugin/packer_compiled.lua",
    "aria-describedby": "err-ignore",
    oninput: (e: Event) => {
      form.ignore = (e.target as HTMLTextAreaElement).value;
    },
  });
  ignore.value = form.ignore;

  const globArea = (name: "encrypt" | "per_machine" | "plaintext", placeholder: string) => {
    const el = h("textarea", {
      id: `f-${name}`,
      name,
      rows: "2",
      spellcheck: "false",
      placeholder,
      "aria-describedby": `err-${name}`,
      oninput: (e: Event) => {
        form[name] = (e.target as HTMLTextAreaElement).value;
      },
    });
    el.value = form[name];
    return el;
  };
  const encrypt = globArea("encrypt", ".ssh/**\n.npmrc");
  const perMachine = globArea("per_machine", ".config/monitors.xml");
  const plaintext = globArea("plaintext", ".config/app/token-that-is-not-secret");

  const auto = h("input", {
    id: "f-auto",
    name: "auto",
    type: "checkbox",
    checked: form.auto,
    onchange: (e: Event) => {
      form.auto = (e.target as HTMLInputElement).checked;
    },
  });

  const notify = h("input", {
    id: "f-notify",
    name: "notify",
    type: "checkbox",
    checked: form.notify,
    onchange: (e: Event) => {
      form.notify = (e.target as HTMLInputElement).checked;
    },
  });

  const structuredMerge = h("input", {
    id: "f-structured-merge",
    name: "structured_merge",
    type: "checkbox",
    checked: form.structured_merge,
    onchange: (e: Event) => {
      form.structured_merge = (e.target as HTMLInputElement).checked;
    },
  });

  const showErrors = (errors: FieldErrors, general?: string) => {
    for (const [f, el] of errs) {
      el.textContent = errors[f] ?? "";
      el.closest(".field")?.classList.toggle("invalid", Boolean(errors[f]));
    }
    mount(top, general ? errorBox(general) : null);
    const first = Object.keys(errors)[0];
    if (first) document.getElementById(`f-${first}`)?.focus();
  };

  const save = async (ev: Event) => {
    ev.preventDefault();
    if (newPath.value.trim()) addTyped();
    const { input, errors } = formToInput(form, existing?.id);
    if (!input) {
      showErrors(errors);
      return;
    }
    showErrors({});
    saveBtn.disabled = true;
    try {
      if (existing) {
        await api("PUT", `/v1/config/${encodeURIComponent(existing.id)}`, input);
        toast(`Saved ${input.name}`);
        await loadConfigs();
        navigate("#/configs");
      } else {
        const created = await api<{ id: string }>("POST", "/v1/config", input);
        toast(`Created ${input.name}`);
        await loadConfigs();
        navigate(`#/overview`);
        void created;
      }
    } catch (e) {
      if (e instanceof ApiError) {
        const { field, message } = placeError(e);
        if (field) showErrors({ [field]: message });
        else showErrors({}, message);
      } else {
        showErrors({}, errorText(e));
      }
    } finally {
      saveBtn.disabled = false;
    }
  };

  const saveBtn = h("button", { type: "submit", class: "btn btn-primary", "data-testid": "save-config" }, existing ? "Save" : "Create config");

  const formEl = h(
    "form",
    { class: "form", novalidate: true, onsubmit: save, "data-testid": "config-form" },
    top,
    h(
      "div",
      { class: "form-grid" },
      field("name", "Name", input("name", form.name, { placeholder: "dotfiles", required: "" }), "A short name you type on the command line."),
      field("remote", "Git remote", input("remote", form.remote, { placeholder: "git@github.com:me/dotfiles.git" }), "A URL git understands, or a path to a repository."),
      field("branch", "Branch", input("branch", form.branch)),
      field("interval_s", "Check every (seconds)", input("interval_s", form.interval_s, { inputmode: "numeric" })),
      field(
        "direction",
        "Direction",
        select("direction", [
          ["both", "Both ways"],
          ["push", "Push only (this machine is the source)"],
          ["pull", "Pull only (never push from here)"],
        ]),
      ),
      field(
        "on_conflict",
        "When both sides changed",
        select("on_conflict", [
          ["keep-both", "Keep both, let me choose"],
          ["local", "This machine wins"],
          ["remote", "The remote wins"],
        ]),
      ),
    ),
    h(
      "div",
      { class: "field", "data-field": "paths" },
      h("label", { for: "f-paths" }, "Files and folders"),
      pathRows,
      h(
        "div",
        { class: "row" },
        newPath,
        button("Add", addTyped),
        button("Browse home…", () => openPicker((p) => {
          if (!form.paths.includes(p)) form.paths.push(p);
          renderPaths();
        }), { testid: "browse" }),
      ),
      errorSlot("paths"),
    ),
    field("ignore", "Ignore (one glob per line)", ignore),
    field("encrypt", "Encrypt on the remote (one glob per line; needs `dotsync key init`)", encrypt),
    field("per_machine", "One version per machine (one glob per line)", perMachine),
    field("plaintext", "Push as they are even if they look like secrets (one glob per line)", plaintext),
    field(
      "machines",
      "Only on these machines (comma-separated; empty: every machine)",
      input("machines", form.machines, { placeholder: "laptop, desk" }),
    ),
    h("div", { class: "field field-check", "data-field": "auto" }, h("label", null, auto, " Sync automatically"), errorSlot("auto")),
    h(
      "div",
      { class: "field field-check", "data-field": "notify" },
      h("label", null, notify, " Tell the other machines at once after a push (and hear from them)"),
      errorSlot("notify"),
    ),
    h(
      "div",
      { class: "field field-check", "data-field": "structured_merge" },
      h(
        "label",
        null,
        structuredMerge,
        " Merge settings files (JSON, TOML, YAML, INI) key by key: a conflict only when both machines changed the same key",
      ),
      errorSlot("structured_merge"),
      errorSlot("merge_formats"),
    ),
    h(
      "div",
      { class: "form-actions" },
      saveBtn,
      button("Cancel", () => navigate("#/configs"), { kind: "ghost" }),
      existing
        ? confirmButton("Delete config", "Really delete? Files stay", async () => {
            try {
              await api("DELETE", `/v1/config/${encodeURIComponent(existing.id)}`);
              toast(`Deleted ${existing.name}; your files and the remote are untouched`);
              await loadConfigs();
              navigate("#/configs");
            } catch (e) {
              showErrors({}, errorText(e));
            }
          }, "delete-config")
        : null,
    ),
  );

  mount(
    root,
    pageHeader(existing ? `Edit ${existing.name}` : "New config", existing ? h("code", null, existing.id) : "Choose what to sync and where it goes."),
    card(formEl),
  );
}

/** A modal that browses the home directory (GET /v1/fs) and hands back a `~/...` path. */
export function openPicker(pick: (path: string) => void): void {
  const body = h("div", { class: "picker", "data-testid": "picker" });
  // The browser's Back button leaves the page under the picker: the picker goes with it.
  const onNav = () => m.close();
  const m = modal("Choose a file or folder", body, () => {
    window.removeEventListener("popstate", onNav);
    window.removeEventListener("hashchange", onNav);
  });
  window.addEventListener("popstate", onNav);
  window.addEventListener("hashchange", onNav);
  const go = async (path: string) => {
    mount(body, spinner());
    try {
      const l = await get<FsListing>(`/v1/fs${qs({ path })}`);
      renderListing(l);
    } catch (e) {
      mount(body, errorBox(errorText(e)), button("Back to home", () => void go("~")));
    }
  };
  const renderListing = (l: FsListing) => {
    const crumbs: HTMLElement[] = [];
    const parts = l.path === "~" ? [] : l.path.slice(2).split("/");
    crumbs.push(h("button", { type: "button", class: "crumb", onclick: () => void go("~") }, "~"));
    parts.forEach((p, i) => {
      const target = "~/" + parts.slice(0, i + 1).join("/");
      crumbs.push(h("span", { class: "muted" }, "/"), h("button", { type: "button", class: "crumb", onclick: () => void go(target) }, p));
    });
    mount(
      body,
      h("nav", { class: "crumbs" }, ...crumbs),
      h(
        "ul",
        { class: "picker-list" },
        l.parent !== null
          ? h("li", null, h("button", { type: "button", class: "entry dir", onclick: () => void go(l.parent!) }, "↑ .."))
          : null,
        // ~/.dotsync is dotsync's own state, which never syncs: not offered.
        ...l.entries.filter((e) => !(l.path === "~" && e.name === ".dotsync")).map((e) =>
          h(
            "li",
            { "data-entry": e.name },
            e.kind === "dir"
              ? h("button", { type: "button", class: "entry dir", onclick: () => void go(e.path) }, h("span", { class: "icon icon-dir", "aria-hidden": "true" }), e.name)
              : h("span", { class: `entry ${e.kind}` }, h("span", { class: `icon icon-${e.kind === "symlink" ? "link" : "file"}`, "aria-hidden": "true" }), e.name),
            h("span", { class: "muted size" }, e.kind === "file" ? formatBytes(e.size) : e.kind === "symlink" ? "link" : ""),
            e.kind === "file" || e.kind === "dir"
              ? button("Add", () => {
                  pick(e.path);
                  m.close();
                }, { kind: "ghost", title: `Add ${e.path}` })
              : null,
          ),
        ),
      ),
      l.truncated ? h("p", { class: "muted" }, "Some entries are not shown.") : null,
      l.path !== "~"
        ? h("div", { class: "form-actions" }, button(`Add this folder (${l.path})`, () => {
            pick(l.path);
            m.close();
          }, { kind: "primary" }))
        : null,
    );
  };
  void go("~");
}
