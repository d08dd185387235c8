import { card, code } from "../components";
import { h, mount } from "../dom";
import type { SignedOutReason } from "../store";

/** Why the sign-in page shows: a link that no longer works, or the app's own reasons. */
export type LoginReason = "expired" | SignedOutReason | null;

function notice(reason: LoginReason): HTMLElement | null {
  switch (reason) {
    case "expired":
      return h("p", { class: "alert alert-error", "data-testid": "login-expired" }, "That sign-in link has expired or was already used.");
    case "no-token":
      return h(
        "p",
        { class: "alert alert-info", "data-testid": "login-no-token" },
        "This tab is not signed in. A sign-in belongs to the browser tab that ",
        code("dotsync ui"),
        " opened, so a new tab or window starts signed out: open ",
        code("dotsync ui"),
        " again.",
      );
    case "ended":
      return h(
        "p",
        { class: "alert alert-error", "data-testid": "login-ended" },
        "Your session has ended (signed out, expired, or the daemon restarted). Open ",
        code("dotsync ui"),
        " again.",
      );
    case "offline":
      return h(
        "p",
        { class: "alert alert-error", "data-testid": "login-offline" },
        "Cannot reach the dotsync daemon. Is ",
        code("dotsync daemon"),
        " running? Reload this page once it is.",
      );
    default:
      return null;
  }
}

export function loginView(root: HTMLElement, reason: LoginReason): void {
  mount(
    root,
    h(
      "div",
      { class: "login" },
      card(
        h("div", { class: "brand big" }, h("span", { class: "logo" }), "dotsync"),
        notice(reason),
        h("h2", null, "Sign in"),
        h("p", null, "In a terminal on this machine, run"),
        h("pre", { class: "cmd" }, code("dotsync ui")),
        h(
          "p",
          { class: "muted" },
          "It opens this app signed in, with a link that works once. `dotsync ui --print` prints the link instead of opening a browser.",
        ),
      ),
    ),
  );
}
