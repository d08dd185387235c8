// Small building blocks shared by the views.

import { h, type Child } from "./dom";
import type { ConfigState, FileState } from "./types";

const STATE_LABEL: Record<string, string> = {
  idle: "Up to date",
  syncing: "Syncing",
  conflict: "Conflict",
  error: "Error",
  offline: "Offline",
};

export function statePill(state: ConfigState | string): HTMLElement {
  return h("span", { class: `pill pill-${state}`, "data-state": state }, STATE_LABEL[state] ?? state);
}

export function filePill(state: FileState | string): HTMLElement {
  return h("span", { class: `pill pill-file-${state}`, "data-file-state": state }, state);
}

export function actionPill(action: string): HTMLElement {
  return h("span", { class: `pill pill-action-${action}`, "data-action": action }, action);
}

export function button(
  label: Child,
  onclick: (ev: MouseEvent) => void,
  opts: { kind?: "primary" | "danger" | "ghost" | "default"; title?: string; testid?: string; disabled?: boolean } = {},
): HTMLButtonElement {
  return h(
    "button",
    {
      type: "button",
      class: `btn btn-${opts.kind ?? "default"}`,
      title: opts.title,
      "data-testid": opts.testid,
      disabled: opts.disabled,
      onclick,
    },
    label,
  );
}

export function pageHeader(title: string, subtitle?: Child, ...actions: Child[]): HTMLElement {
  return h(
    "header",
    { class: "page-header" },
    h("div", null, h("h1", null, title), subtitle ? h("p", { class: "muted" }, subtitle) : null),
    h("div", { class: "actions" }, ...actions),
  );
}

export function card(...children: Child[]): HTMLElement {
  return h("section", { class: "card" }, ...children);
}

export function empty(title: string, text: Child, ...actions: Child[]): HTMLElement {
  return h("div", { class: "empty" }, h("h2", null, title), h("p", { class: "muted" }, text), ...actions);
}

export function errorBox(message: string): HTMLElement {
  return h("div", { class: "alert alert-error", role: "alert" }, message);
}

export function spinner(label = "Loading…"): HTMLElement {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spin" }), label);
}

export function code(text: string): HTMLElement {
  return h("code", null, text);
}

/** A modal dialog over the page; returns a close function. */
export function modal(title: string, body: Child, onClose?: () => void): { el: HTMLElement; close: () => void } {
  const close = () => {
    el.remove();
    document.removeEventListener("keydown", onKey);
    onClose?.();
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") close();
  };
  const el = h(
    "div",
    {
      class: "modal-backdrop",
      onclick: (e: MouseEvent) => {
        if (e.target === el) close();
      },
    },
    h(
      "div",
      { class: "modal", role: "dialog", "aria-modal": "true", "aria-label": title },
      h("header", { class: "modal-header" }, h("h2", null, title), button("×", close, { kind: "ghost", title: "Close" })),
      h("div", { class: "modal-body" }, body),
    ),
  );
  document.addEventListener("keydown", onKey);
  document.body.appendChild(el);
  return { el, close };
}

/** A button that asks once more before acting ("Delete" → "Really delete?"). */
export function confirmButton(label: string, confirmLabel: string, act: () => void, testid?: string): HTMLButtonElement {
  let armed = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const b = button(
    label,
    () => {
      if (!armed) {
        armed = true;
        b.textContent = confirmLabel;
        b.classList.add("armed");
        timer = setTimeout(() => {
          armed = false;
          b.textContent = label;
          b.classList.remove("armed");
        }, 4000);
        return;
      }
      if (timer) clearTimeout(timer);
      act();
    },
    { kind: "danger", testid },
  );
  return b;
}
