import { ApiError, api } from "../api";
import { button, card, errorBox, pageHeader, spinner } from "../components";
import { h, mount } from "../dom";
import { applyTheme } from "../theme";
import { errorText, loadSettings, signOut, store, toast } from "../store";
import type { Settings, Theme } from "../types";

export function settingsView(root: HTMLElement): void {
  mount(root, pageHeader("Settings"), spinner());
  loadSettings()
    .then((s) => render(root, s ?? { backend_addr: "127.0.0.1:11000", theme: "system", notifications: true }, s === null))
    .catch((e) => mount(root, errorBox(errorText(e))));
}

function render(root: HTMLElement, s: Settings, failed: boolean): void {
  const form: Settings = { ...s };
  const errs: Record<string, HTMLElement> = {};
  const slot = (f: string) => (errs[f] = h("p", { class: "field-error", "data-error-for": f, role: "alert" }));
  const top = h("div", null, failed ? errorBox("The saved settings could not be read; these are the defaults.") : null);

  const addr = h("input", {
    id: "s-backend_addr",
    value: form.backend_addr,
    spellcheck: "false",
    oninput: (e: Event) => (form.backend_addr = (e.target as HTMLInputElement).value),
  });
  const themes: [Theme, string][] = [
    ["system", "Same as the system"],
    ["light", "Light"],
    ["dark", "Dark"],
  ];
  const themeRadios = h(
    "div",
    { class: "segmented", role: "radiogroup", "aria-label": "Theme" },
    ...themes.map(([v, l]) =>
      h(
        "label",
        null,
        h("input", {
          type: "radio",
          name: "theme",
          value: v,
          checked: form.theme === v,
          onchange: () => {
            form.theme = v;
            applyTheme(v);
          },
        }),
        l,
      ),
    ),
  );
  const notif = h("input", {
    type: "checkbox",
    id: "s-notifications",
    checked: form.notifications,
    onchange: async (e: Event) => {
      form.notifications = (e.target as HTMLInputElement).checked;
      if (form.notifications && "Notification" in window && Notification.permission === "default") {
        await Notification.requestPermission().catch(() => "denied");
      }
    },
  });
  const save = async (ev: Event) => {
    ev.preventDefault();
    for (const el of Object.values(errs)) el.textContent = "";
    mount(top);
    try {
      store.settings = await api<Settings>("PUT", "/v1/settings", form);
      applyTheme(store.settings.theme);
      toast("Settings saved");
    } catch (e) {
      if (e instanceof ApiError && e.field && errs[e.field]) errs[e.field].textContent = e.message;
      else mount(top, errorBox(errorText(e)));
    }
  };
  const permission = "Notification" in window ? Notification.permission : "unsupported";
  mount(
    root,
    pageHeader("Settings", "Kept by the daemon in ~/.dotsync/config."),
    card(
      h(
        "form",
        { class: "form", onsubmit: save, novalidate: true, "data-testid": "settings-form" },
        top,
        h("div", { class: "field" }, h("label", null, "Theme"), themeRadios, slot("theme")),
        h(
          "div",
          { class: "field field-check" },
          h("label", null, notif, " Desktop notifications for conflicts and failed syncs"),
          h("p", { class: "hint" }, permission === "denied" ? "The browser blocks notifications for this page." : "Shown by the desktop app (also while its window is closed), and by this page while it is open."),
          slot("notifications"),
        ),
        h(
          "div",
          { class: "field" },
          h("label", { for: "s-backend_addr" }, "Backend address"),
          addr,
          h("p", { class: "hint" }, "Where the desktop app finds the daemon (loopback only). This page always talks to the daemon that served it."),
          slot("backend_addr"),
        ),
        h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary", "data-testid": "save-settings" }, "Save settings")),
      ),
    ),
    card(
      h("h2", null, "Session"),
      h("p", { class: "muted" }, "This browser is signed in to the daemon until you sign out or the daemon restarts."),
      button("Sign out", () => void signOut(), { kind: "danger", testid: "sign-out" }),
    ),
  );
}
