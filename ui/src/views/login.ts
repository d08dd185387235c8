import { card, code } from "../components";
import { h, mount } from "../dom";

export function loginView(root: HTMLElement, expired: boolean): void {
  mount(
    root,
    h(
      "div",
      { class: "login" },
      card(
        h("div", { class: "brand big" }, h("span", { class: "logo" }), "dotsync"),
        expired
          ? h("p", { class: "alert alert-error", "data-testid": "login-expired" }, "That sign-in link has expired or was already used.")
          : null,
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
