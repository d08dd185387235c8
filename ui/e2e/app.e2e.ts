// The web app end to end: real daemons, a real bare git remote, Debian's Chromium.
//
// One story, in order, on two machines ("laptop" and "desktop") that sync through one remote:
// sign in with the one-time link, create a config through the form, watch a sync live, browse a
// file's history and restore a version, resolve a conflict the other machine made, and see that
// a file named like markup stays text, and see a sync the daemon's watcher started show up live
// by itself. Screenshots of the main screens go to docs/screenshots/.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { launchBrowser, newPage, shot, waitFor, World, type Machine } from "./harness";

const XSS = "<img src=x onerror=alert(1)>";
const V1 = "export EDITOR=vim\nalias ll='ls -l'\nexport PATH=$HOME/bin:$PATH\n";
const V2 = "export EDITOR=nvim\nalias ll='ls -la'\nexport PATH=$HOME/bin:$PATH\nalias gs='git status'\n";

let world: World;
let remote: string;
let laptop: Machine;
let desktop: Machine;
let browser: Browser;
let page: Page;
let problems: string[];
let httpErrors: string[];
let configId = "";

/** Records every value the progress bar shows, from before the app's first script runs. */
const RECORD_PROGRESS = () => {
  const w = window as unknown as { __progress: number[] };
  w.__progress = [];
  new MutationObserver((records) => {
    for (const r of records)
      for (const n of Array.from(r.addedNodes)) {
        if (!(n instanceof Element)) continue;
        const bars = n.matches('[data-testid="progress"]') ? [n] : Array.from(n.querySelectorAll('[data-testid="progress"]'));
        for (const b of bars) w.__progress.push(Number(b.getAttribute("aria-valuenow")));
      }
  }).observe(document, { childList: true, subtree: true });
};

beforeAll(async () => {
  world = new World();
  remote = world.bareRemote("dots");
  laptop = world.machine("laptop");
  desktop = world.machine("desktop");
  laptop.write(".zshrc", V1);
  laptop.write(".config/app/settings.toml", "[ui]\ntheme = \"dark\"\nfont_size = 13\n");
  laptop.write(`.config/app/${XSS}`, "a file whose name is markup\n");
  for (let i = 0; i < 120; i++) laptop.write(`.config/app/snippets/s${String(i).padStart(3, "0")}.txt`, `snippet ${i}\n`);
  await Promise.all([laptop.start(), desktop.start()]);
  browser = await launchBrowser();
  ({ page, problems, httpErrors } = await newPage(browser));
  await page.addInitScript(RECORD_PROGRESS);
});

afterAll(async () => {
  await browser?.close();
  await world?.close();
});

/** The CSRF token the app keeps for this tab (null when it has none). */
function tabToken(p: Page): Promise<string | null> {
  return p.evaluate(() => sessionStorage.getItem("dotsync.csrf"));
}

/** A fetch from the page, with the browser's cookies and, when `withHeader`, the CSRF header
 * carrying `token` (by default the tab's own). */
async function csrfFetch(p: Page, url: string, withHeader: boolean, method = "GET", token?: string): Promise<number> {
  return p.evaluate(
    async ([url, withHeader, method, token]) => {
      const t = token ?? sessionStorage.getItem("dotsync.csrf");
      const headers: Record<string, string> = {};
      if (withHeader && t) headers["X-Dotsync-CSRF"] = t;
      const r = await fetch(url as string, { method: method as string, headers });
      return r.status;
    },
    [url, withHeader, method, token ?? null] as const,
  );
}

describe("the dotsync app", () => {
  it("signs in with a one-time link; the API refuses a cookie without the CSRF header", async () => {
    // Before signing in, the app says how to, and sends no API request without a token.
    const apiCalls: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (new URL(r.url()).pathname.startsWith("/v1/")) apiCalls.push(new URL(r.url()).pathname);
    };
    page.on("request", onRequest);
    await page.goto(laptop.url + "/");
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByTestId("login-no-token").waitFor();
    expect(apiCalls).toEqual([]);
    page.off("request", onRequest);
    expect(await csrfFetch(page, "/v1/config", true)).toBe(401);

    const link = laptop.loginUrl();
    const landed = await page.goto(link);
    // The token came in the redirect's fragment and left the address bar at once.
    expect(page.url()).toBe(laptop.url + "/");
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    const redirect = await landed!.request().redirectedFrom()!.response();
    expect(redirect!.status()).toBe(303);
    const target = (await redirect!.headerValue("location")) ?? "";
    expect(target).toMatch(/^\/#csrf=[0-9a-f]{64}$/);
    const token = target.slice("/#csrf=".length);
    expect(await tabToken(page)).toBe(token);
    expect(await page.evaluate(() => location.href)).not.toContain(token);

    // The token is in no cookie at all: not in what the daemon set, not in what the browser
    // holds (HttpOnly included), not readable by scripts. Another port gets only the session.
    const setCookies = await redirect!.headerValues("set-cookie");
    expect(setCookies).toHaveLength(1);
    expect(setCookies[0]).toMatch(/^dotsync_session_\d+=/);
    expect(setCookies.join("\n")).not.toContain(token);
    const cookies = await page.context().cookies();
    expect(cookies.map((c) => c.name)).toEqual([expect.stringMatching(/^dotsync_session_\d+$/)]);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    expect(JSON.stringify(cookies)).not.toContain(token);
    expect(await page.evaluate(() => document.cookie)).toBe("");

    expect(await csrfFetch(page, "/v1/config", true)).toBe(200);
    expect(await csrfFetch(page, "/v1/config", false)).toBe(401);
    expect(await csrfFetch(page, "/v1/sync", false, "POST")).toBe(401);
    // A session cannot mint login codes: that takes the token itself.
    expect(await csrfFetch(page, "/v1/session/code", true, "POST")).toBe(401);

    // What another local server receives from this browser is the session cookie; replayed
    // from outside a browser (no Origin, a loopback Host) it reaches nothing.
    const replay = (headers: Record<string, string>) => fetch(`${laptop.url}/v1/config`, { headers }).then((r) => r.status);
    const leaked = `${cookies[0].name}=${cookies[0].value}`;
    expect(await replay({ Cookie: leaked })).toBe(401);
    expect(await replay({ Cookie: leaked, "X-Dotsync-CSRF": "" })).toBe(401);
    expect(await replay({ Cookie: leaked, "X-Dotsync-CSRF": token.replace(/.$/, (c) => (c === "0" ? "1" : "0")) })).toBe(401);
    // Only with the tab's token (which no other port can read) does the cookie count.
    expect(await replay({ Cookie: leaked, "X-Dotsync-CSRF": token })).toBe(200);

    // A reload keeps the tab signed in: sessionStorage survives it.
    await page.reload();
    await page.getByRole("heading", { name: "Overview" }).waitFor();
    expect(await tabToken(page)).toBe(token);
    expect(await csrfFetch(page, "/v1/config", true)).toBe(200);

    // A new tab has the cookie but no token: it says to open `dotsync ui` again, cleanly.
    const tab = await page.context().newPage();
    const tabProblems: string[] = [];
    tab.on("pageerror", (e) => tabProblems.push(e.message));
    await tab.goto(laptop.url + "/#/configs");
    const notice = tab.getByTestId("login-no-token");
    await notice.waitFor();
    expect(await notice.textContent()).toContain("dotsync ui");
    expect(await tabToken(tab)).toBeNull();
    expect(await csrfFetch(tab, "/v1/config", true)).toBe(401);
    expect(tabProblems).toEqual([]);
    await shot(tab, "login-new-tab");
    await tab.close();
    // That did not sign the first tab out.
    expect(await csrfFetch(page, "/v1/config", true)).toBe(200);

    // The link worked once.
    const other = await newPage(browser);
    await other.page.goto(link);
    await other.page.getByTestId("login-expired").waitFor();
    expect(await csrfFetch(other.page, "/v1/config", true)).toBe(401);
    await shot(other.page, "login");
    await other.ctx.close();
  });

  it("creates a config through the form, showing the server's validation error next to the field", async () => {
    await page.goto(laptop.url + "/#/configs/new");
    await page.locator("#f-name").fill("dotfiles");
    await page.locator("#f-remote").fill(remote);
    await page.locator("#f-paths").fill("/etc/hostname");
    await page.locator("#f-paths").press("Enter");
    await page.getByTestId("save-config").click();
    const err = page.locator('[data-error-for="paths"]');
    await waitFor("the paths error", async () => ((await err.textContent()) ?? "").length > 0);
    expect(await err.textContent()).toMatch(/home/i);
    expect(await page.locator('[data-error-for="name"]').textContent()).toBe("");
    await shot(page, "config-editor-error");

    // Fix it: drop the bad path, type one, pick a folder from the home browser.
    expect(httpErrors).toEqual(["400 POST /v1/config"]);
    httpErrors.length = 0;
    await page.getByTitle("Remove /etc/hostname").click();
    await page.locator("#f-paths").fill("~/.zshrc");
    await page.locator("#f-paths").press("Enter");
    await page.getByTestId("browse").click();
    const picker = page.getByTestId("picker");
    await picker.getByRole("button", { name: /\.config/ }).click();
    await picker.locator('li[data-entry="app"]').getByRole("button", { name: "Add" }).click();
    await expect.poll(() => page.getByTestId("path-list").textContent()).toContain("~/.config/app");
    await page.locator("#f-auto").uncheck();
    await page.locator("#f-interval_s").fill("3600");
    await shot(page, "config-editor");
    await page.getByTestId("save-config").click();

    await page.getByRole("heading", { name: "Overview" }).waitFor();
    await page.locator('[data-testid="config-card"][data-config="dotfiles"]').waitFor();
    const list = await laptop.api("GET", "/v1/config");
    expect(list.json).toHaveLength(1);
    expect(list.json[0]).toMatchObject({ name: "dotfiles", paths: ["~/.zshrc", "~/.config/app"], auto: false, interval_s: 3600, remote });
    configId = list.json[0].id;
  });

  it("syncs live: the progress bar and each file as it is synced, then the summary", async () => {
    await page.locator('[data-config="dotfiles"]').locator("..").getByTestId("sync-now").click();
    await page.waitForURL(/#\/sync$/);
    await page.getByTestId("summary").waitFor();
    await expect.poll(() => page.getByTestId("run-state").textContent()).toBe("Done");
    const files = 3 + 120;
    expect(await page.locator('[data-stat="pushed"]').textContent()).toBe(String(files));
    expect(await page.getByTestId("sync-file").count()).toBe(files);
    expect(await page.locator('[data-testid="sync-file"][data-action="pushed"]').count()).toBe(files);
    expect(await page.getByTestId("progress").getAttribute("aria-valuenow")).toBe("100");
    const seen = await page.evaluate(() => (window as unknown as { __progress: number[] }).__progress);
    // The bar moved through intermediate values before it reached the end.
    expect(seen.some((v) => v > 0 && v < 100)).toBe(true);
    expect(seen[seen.length - 1]).toBe(100);
    // The file named like markup is listed as text.
    const xssRow = page.getByTestId("sync-file").filter({ hasText: XSS });
    expect(await xssRow.count()).toBe(1);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, "live-sync");
    const log = await laptop.run(["files", "dotfiles"]);
    expect(log).toContain(".zshrc");
  });

  it("shows a file's versions, diffs one against the current file, and restores it", async () => {
    laptop.write(".zshrc", V2);
    const s = await laptop.sync("dotfiles");
    expect(s).toMatchObject({ ok: true, pushed: 1 });

    await page.goto(`${laptop.url}/#/files/${encodeURIComponent(configId)}`);
    const row = page.locator('[data-testid="file-row"][data-path=".zshrc"]');
    await row.waitFor();
    expect(await row.textContent()).toContain("synced");
    await row.click();
    const versions = page.getByTestId("version");
    await expect.poll(() => versions.count()).toBe(2);
    // The older version is shown against the current file.
    const diff = page.getByTestId("diff");
    await diff.waitFor();
    const text = (await diff.textContent()) ?? "";
    expect(text).toContain("export EDITOR=vim");
    expect(text).toContain("export EDITOR=nvim");
    expect(text).toContain("alias gs='git status'");
    expect(await diff.locator("tr.diff-line.del").count()).toBe(2);
    expect(await diff.locator("tr.diff-line.ins").count()).toBe(3);
    await shot(page, "files-history");

    await page.getByTestId("restore").click();
    await page.getByTestId("restore").click(); // confirm
    await waitFor("the old version back in the home", () => laptop.read(".zshrc") === V1);
    // It then syncs like any edit (the daemon starts that sync itself; this one waits for it or
    // finds nothing left to do), and becomes the newest version.
    expect(await laptop.sync("dotfiles")).toMatchObject({ ok: true });
    const h = await laptop.api("GET", `/v1/history?config=${configId}&path=.zshrc`);
    expect(h.json).toHaveLength(3);
    expect(h.json[0].size).toBe(Buffer.byteLength(V1));
  });

  it("shows the file named like markup as text, everywhere", async () => {
    await page.goto(`${laptop.url}/#/files/${encodeURIComponent(configId)}`);
    const row = page.locator('[data-testid="file-row"]').filter({ hasText: XSS });
    await row.waitFor();
    expect(await row.locator(".path").textContent()).toBe(`.config/app/${XSS}`);
    await row.click();
    await page.getByTestId("detail-path").filter({ hasText: XSS }).waitFor();
    // Which config syncs it? Ask by its full name.
    await page.getByTestId("which-input").fill(`~/.config/app/${XSS}`);
    await page.getByTestId("which-input").press("Enter");
    await expect.poll(() => page.getByTestId("which-result").textContent()).toContain("is synced by dotfiles");
    expect(await page.getByTestId("which-result").textContent()).toContain(XSS);
    expect(await page.locator("img").count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it("resolves a conflict made by a second machine, with an edited result", async () => {
    // The desktop joins the same remote and gets everything.
    const r = await desktop.api("POST", "/v1/config", { name: "dotfiles", paths: ["~/.zshrc", "~/.config/app"], remote, auto: false });
    expect(r.status).toBe(201);
    expect(await desktop.sync("dotfiles")).toMatchObject({ ok: true });
    expect(desktop.read(".zshrc")).toBe(V1);

    // Both machines change the same line; the desktop pushes first.
    desktop.write(".zshrc", V1.replace("vim", "emacs"));
    laptop.write(".zshrc", V1.replace("vim", "helix"));
    expect(await desktop.sync("dotfiles")).toMatchObject({ ok: true, pushed: 1 });

    await page.goto(`${laptop.url}/#/overview`);
    await page.locator('[data-config="dotfiles"]').waitFor();
    const summary = await laptop.sync("dotfiles");
    expect(summary.conflicts).toBe(1);
    // The overview learns of it live, from the event stream.
    await page.getByTestId("conflict-badge").waitFor();
    await expect.poll(() => page.locator('[data-config="dotfiles"] [data-state]').getAttribute("data-state")).toBe("conflict");

    await page.locator('a[data-nav="conflicts"]').click();
    const card = page.locator('[data-testid="conflict"][data-path=".zshrc"]').locator("..");
    await card.getByTestId("pane-mine").filter({ hasText: "helix" }).waitFor();
    expect(await card.getByTestId("pane-theirs").textContent()).toContain("emacs");
    await shot(page, "conflicts");

    const merged = V1.replace("vim", "helix") + "# also tried emacs\n";
    await card.getByTestId("edit").click();
    await card.getByTestId("edit-result").fill(merged);
    await card.getByTestId("save-edit").click();
    await page.getByRole("heading", { name: "No conflicts" }).waitFor();
    expect(laptop.read(".zshrc")).toBe(merged);

    await laptop.sync("dotfiles");
    await desktop.sync("dotfiles");
    expect(desktop.read(".zshrc")).toBe(merged);
  });

  it("updates the overview live as configs change and sync elsewhere", async () => {
    await page.goto(`${laptop.url}/#/overview`);
    await page.locator('[data-config="dotfiles"]').waitFor();
    laptop.write("notes.txt", "remember the milk\n");
    const r = await laptop.api("POST", "/v1/config", { name: "notes", paths: ["~/notes.txt"], remote: world.bareRemote("notes"), auto: false });
    expect(r.status).toBe(201);
    const card = page.locator('[data-config="notes"]');
    await card.waitFor();
    expect(await card.locator("..").getByTestId("last-sync").textContent()).toBe("never");
    await laptop.sync("notes");
    await expect.poll(() => card.locator("..").getByTestId("last-sync").textContent()).toMatch(/^(just now|\d+ s ago)$/);
    expect(await page.getByTestId("stream-state").textContent()).toBe("events: live");
    // The machines card: this machine, and the other machine of the remote, reachable for pokes.
    expect(await page.getByTestId("this-machine").textContent()).toBe("laptop");
    await expect
      .poll(() => page.getByTestId("other-machines").textContent(), { timeout: 20_000 })
      .toMatch(/desktop\s*reachable \(direct\)/);
    await shot(page, "overview");
  });

  it("saves settings to ~/.dotsync/config, with errors next to the field, and applies the theme", async () => {
    await page.goto(`${laptop.url}/#/settings`);
    await page.getByTestId("settings-form").waitFor();
    await page.locator("#s-backend_addr").fill("0.0.0.0:11000");
    await page.getByTestId("save-settings").click();
    await expect.poll(() => page.locator('[data-error-for="backend_addr"]').textContent()).toMatch(/loopback/);
    expect(httpErrors).toEqual(["400 PUT /v1/settings"]);
    httpErrors.length = 0;

    await page.locator("#s-backend_addr").fill("127.0.0.1:11000");
    await page.getByRole("radio", { name: "Dark" }).check();
    await page.locator("#s-notifications").uncheck();
    await page.getByTestId("save-settings").click();
    const file = path.join(laptop.dotsyncHome, "config");
    await waitFor("the settings file", () => fs.existsSync(file) && JSON.parse(fs.readFileSync(file, "utf8")).theme === "dark");
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual({ backend_addr: "127.0.0.1:11000", theme: "dark", notifications: false });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    await shot(page, "settings-dark");

    // The theme survives a reload (it comes from the daemon), and the overview in dark.
    await page.goto(`${laptop.url}/#/overview`);
    await page.locator('[data-config="notes"]').waitFor();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    await shot(page, "overview-dark");
  });

  it("shows a sync the daemon's watcher started, file by file to the summary, without a click", async () => {
    laptop.write("watched/first.txt", "already here\n");
    const r = await laptop.api("POST", "/v1/config", {
      name: "watched",
      paths: ["~/watched"],
      remote: world.bareRemote("watched"),
      auto: true,
      interval_s: 3600,
    });
    expect(r.status).toBe(201);
    const id = r.json.id;
    // The daemon syncs a new auto config by itself; this request queues behind that sync (or is
    // that sync), so every earlier sync is over before the page opens.
    expect(await laptop.sync("watched")).toMatchObject({ ok: true });
    await page.goto(`${laptop.url}/#/sync`);
    await page.getByRole("heading", { name: "Live sync" }).waitFor();
    await expect.poll(() => page.locator(".sidebar-foot").textContent()).toContain("Connected");

    laptop.write("watched/saved-in-an-editor.txt", "written while the page was open\n");
    const row = page.locator('[data-testid="sync-file"]').filter({ hasText: "watched/saved-in-an-editor.txt" });
    await row.waitFor();
    expect(await row.getAttribute("data-action")).toBe("pushed");
    await page.getByTestId("summary").waitFor();
    await expect.poll(() => page.getByTestId("run-state").textContent()).toBe("Done");
    expect(await page.locator('[data-stat="pushed"]').textContent()).toBe("1");
    expect(await page.getByTestId("progress").getAttribute("aria-valuenow")).toBe("100");
    expect(await page.locator(".page-header").textContent()).toMatch(/started by a change the daemon saw/);
    // Shown once: one row for the file, one summary line.
    expect(await page.getByTestId("sync-file").count()).toBe(1);
    const log = await laptop.api("GET", `/v1/history?config=${id}&path=watched/saved-in-an-editor.txt`);
    expect(log.json).toHaveLength(1);
    await shot(page, "live-sync-watcher");
  });

  it("says when the remote's branch was moved back, changes nothing, and offers the two ways out", async () => {
    const git = (...args: string[]) =>
      execFileSync("git", ["--git-dir", remote, ...args], { env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null" } })
        .toString()
        .trim();
    const before = git("rev-parse", "main");
    laptop.write(".config/app/added-since.txt", "made after the commit the branch goes back to\n");
    expect(await laptop.sync("dotfiles")).toMatchObject({ ok: true, pushed: 1 });
    // Someone force-pushes the branch back.
    git("update-ref", "refs/heads/main", before);
    expect(await laptop.sync("dotfiles")).toMatchObject({ ok: false, error_kind: "rewound" });
    expect(laptop.read(".config/app/added-since.txt")).toContain("made after");

    await page.goto(`${laptop.url}/#/overview`);
    const card = page.locator('[data-config="dotfiles"]').locator("..");
    await card.getByTestId("rewound-choices").waitFor();
    expect(await card.getByTestId("last-error").textContent()).toContain("moved back");
    await shot(page, "rewound");
    // Taking the remote's files: the file made since goes, and stays in the history.
    await card.getByTestId("rewind-take-remote").click();
    await waitFor("the remote's files to be taken", () => !fs.existsSync(path.join(laptop.home, ".config/app/added-since.txt")));
    const history = await laptop.api("GET", "/v1/history?path=.config/app/added-since.txt");
    expect(history.status).toBe(200);
    expect(history.json.length).toBeGreaterThan(0);
    await page.goto(`${laptop.url}/#/overview`);
    await expect.poll(() => card.getByTestId("rewound-choices").count()).toBe(0);
  });

  it("signs out: the old cookie and CSRF token stop working", async () => {
    await page.goto(`${laptop.url}/#/settings`);
    const token = (await tabToken(page))!;
    expect(await csrfFetch(page, "/v1/config", true, "GET", token)).toBe(200);
    await page.getByTestId("sign-out").click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    expect(await tabToken(page)).toBeNull();
    expect(await csrfFetch(page, "/v1/config", true, "GET", token)).toBe(401);
    expect(problems).toEqual([]);
    expect(httpErrors).toEqual([]);
  });
});
