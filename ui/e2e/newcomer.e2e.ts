// The newcomer's path end to end, on two machines through one empty remote, as the README's
// Quick start tells it: `dotsync init REMOTE` and `dotsync add` on the first machine (the
// daemon syncs by itself), the app's overview (this machine, recent changes), a second machine
// joining with its own differing `~/.zshrc` (`dotsync init REMOTE --yes`), the conflict in the
// app's "Needs you" list and resolved there, pause and resume, and the log. Screenshots go to
// docs/screenshots/newcomer-*.png with UPDATE_SCREENSHOTS=1.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, newPage, shot, waitFor, World, type Machine } from "./harness";

let world: World;
let remote: string;
let laptop: Machine;
let desktop: Machine;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  world = new World();
  remote = world.bareRemote("dotfiles");
  laptop = world.machine("laptop");
  desktop = world.machine("desktop");
  laptop.write(".zshrc", "export EDITOR=vim\nalias ll='ls -l'\n");
  laptop.write(".gitconfig", "[user]\n  name = Me\n");
  desktop.write(".zshrc", "export EDITOR=emacs\n");
  await Promise.all([laptop.start(), desktop.start()]);
  browser = await launchBrowser();
  ({ page } = await newPage(browser));
});

afterAll(async () => {
  await browser?.close();
  await world?.close();
});

/** The files of the remote's branch, or [] before its first push. */
async function remoteFiles(m: Machine): Promise<string[]> {
  const r = await m.api("POST", "/v1/remote/check", { remote });
  const files = (r.json as { files?: { path: string }[] }).files ?? [];
  return files.map((f) => f.path);
}

describe("a newcomer's first day", () => {
  it("inits and adds on the first machine; the daemon syncs; the overview shows it", async () => {
    laptop.run(["init", remote]);
    laptop.run(["add", "~/.zshrc", "~/.gitconfig"]);
    await waitFor("the laptop's files on the remote", async () => (await remoteFiles(laptop)).length === 2);

    await page.goto(laptop.loginUrl());
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    expect(await page.getByTestId("machine-name").textContent()).toBe("laptop");
    expect(await page.getByTestId("daemon-addr").textContent()).toBe(laptop.addr);
    const card = page.locator('[data-config="dotfiles"]').locator("..");
    await card.getByText(remote).waitFor();
    await page.getByTestId("recent-changes").getByText("~/.zshrc").waitFor();
    expect(await page.getByTestId("needs-you").count()).toBe(0);
    await shot(page, "newcomer-overview");
  });

  it("a second machine joins with its own ~/.zshrc: a conflict in Needs you, resolved in the app", async () => {
    const out = desktop.run(["init", remote, "--yes"]);
    expect(out).toBe("");
    await page.goto(desktop.loginUrl());
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    const need = page.getByTestId("needs-you").locator('[data-kind="conflict"]');
    await need.waitFor();
    expect(await need.textContent()).toContain("1 file in conflict");
    // The other file arrived; this machine's own ~/.zshrc is untouched.
    expect(desktop.read(".gitconfig")).toBe("[user]\n  name = Me\n");
    expect(desktop.read(".zshrc")).toBe("export EDITOR=emacs\n");
    await shot(page, "newcomer-needs-you");

    await need.getByRole("link").click();
    const conflict = page.locator('[data-testid="conflict"][data-path=".zshrc"]').locator("..");
    await conflict.getByText("Theirs (from laptop)").waitFor();
    await shot(page, "newcomer-conflict");
    await conflict.getByTestId("keep-theirs").click();
    await page.getByRole("heading", { name: "No conflicts" }).waitFor();
    expect(desktop.read(".zshrc")).toBe("export EDITOR=vim\nalias ll='ls -l'\n");
  });

  it("pauses everything and resumes from the overview; the log lists what happened", async () => {
    await page.locator('a[data-nav="overview"]').click();
    await page.getByTestId("pause-all").click();
    await page.getByTestId("paused-all").waitFor();
    await page.locator('[data-testid="paused"]').first().waitFor();
    expect((await desktop.api("GET", "/v1/status")).json).toMatchObject({ paused: true });
    await shot(page, "newcomer-paused");
    await page.getByTestId("resume-all").click();
    await waitFor("resumed", async () => (await page.getByTestId("paused-all").count()) === 0);

    await page.locator('a[data-nav="log"]').click();
    const log = page.getByTestId("log");
    await log.getByText("received ~/.gitconfig").waitFor();
    await log.locator('[data-action="conflict"]').first().waitFor();
    await shot(page, "newcomer-log");
  });
});
