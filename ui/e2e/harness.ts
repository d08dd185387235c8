// The browser tests' world: real `dotsync daemon` processes with private homes on free loopback
// ports, a real bare git remote, and Debian's Chromium driven by playwright-core. Nothing touches
// the real home or port 11000.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const BIN = process.env.DOTSYNC_BIN ?? path.join(ROOT, "target/debug/dotsync");
export const SHOTS = path.join(ROOT, "docs/screenshots");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const GIT_ENV = {
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "test",
  GIT_AUTHOR_EMAIL: "test@example.invalid",
  GIT_COMMITTER_NAME: "test",
  GIT_COMMITTER_EMAIL: "test@example.invalid",
};

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, f: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await f();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(50);
  }
}

export class World {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "dotsync-e2e-"));
  readonly machines: Machine[] = [];

  /** An empty bare repository with `main` as its default branch. */
  bareRemote(name: string): string {
    const p = path.join(this.dir, `${name}.git`);
    execFileSync("git", ["init", "-q", "--bare", "-b", "main", p], { env: { ...process.env, ...GIT_ENV } });
    return p;
  }

  machine(name: string): Machine {
    const m = new Machine(name, path.join(this.dir, name));
    this.machines.push(m);
    return m;
  }

  async close(): Promise<void> {
    for (const m of this.machines) await m.stop();
    if (!process.env.KEEP_E2E) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Resp {
  status: number;
  json: any;
  text: string;
}

export class Machine {
  readonly home: string;
  readonly dotsyncHome: string;
  proc: ChildProcess | null = null;
  addr = "";
  token = "";
  log = "";

  constructor(
    readonly name: string,
    dir: string,
  ) {
    this.home = path.join(dir, "home");
    this.dotsyncHome = path.join(this.home, ".dotsync");
    fs.mkdirSync(this.home, { recursive: true });
  }

  env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...GIT_ENV,
      HOME: this.home,
      DOTSYNC_HOME: this.dotsyncHome,
      DOTSYNC_MACHINE: this.name,
      DOTSYNC_LOG: "info,dotsync=debug",
      NO_COLOR: "1",
    };
    delete env.DOTSYNC_ADDR;
    delete env.DOTSYNC_RELAY;
    // Pokes between test daemons stay on loopback.
    env.DOTSYNC_NOTIFY_ADDR = "127.0.0.1:0";
    return env;
  }

  get url(): string {
    return `http://${this.addr}`;
  }

  /** Starts `dotsync daemon --addr 127.0.0.1:0` and reads its address from the state lock. */
  async start(): Promise<void> {
    const proc = spawn(BIN, ["daemon", "--addr", "127.0.0.1:0"], {
      env: this.env(),
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.proc = proc;
    proc.stderr!.on("data", (d: Buffer) => {
      this.log += d.toString();
    });
    const lock = path.join(this.dotsyncHome, "state/lock");
    this.addr = await waitFor(`${this.name}'s daemon to start\n${this.log}`, async () => {
      if (proc.exitCode !== null) throw new Error(`the daemon exited (${proc.exitCode}):\n${this.log}`);
      const text = fs.existsSync(lock) ? fs.readFileSync(lock, "utf8") : "";
      const [, addr] = text.trim().split(/\s+/);
      if (!addr) return null;
      const r = await fetch(`http://${addr}/v1/health`).catch(() => null);
      return r?.ok ? addr : null;
    });
    this.token = fs.readFileSync(path.join(this.dotsyncHome, "state/token"), "utf8").trim();
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await Promise.race([exited, sleep(10_000)]);
    if (p.exitCode === null) p.kill("SIGKILL");
    this.proc = null;
  }

  /** A request with the bearer token, as the CLI makes. */
  async api(method: string, p: string, body?: unknown): Promise<Resp> {
    const r = await fetch(this.url + p, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: r.status, json, text };
  }

  /** Syncs a config through the API and returns its summary line. */
  async sync(config: string): Promise<any> {
    const r = await this.api("POST", `/v1/sync/${encodeURIComponent(config)}`);
    if (r.status !== 200) throw new Error(`sync ${config} on ${this.name}: ${r.status} ${r.text}`);
    const lines = r.text.trim().split("\n").map((l) => JSON.parse(l));
    const summary = lines[lines.length - 1];
    if (summary.type !== "summary") throw new Error(`no summary: ${r.text}`);
    return summary;
  }

  /** `dotsync ARGS`; throws with its output on failure. */
  run(args: string[]): string {
    return execFileSync(BIN, args, { env: this.env(), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  /** A one-time sign-in link from `dotsync ui --print`. */
  loginUrl(): string {
    const url = this.run(["ui", "--print"]).trim();
    if (!url.startsWith(`${this.url}/v1/session/login?code=`)) throw new Error(`unexpected link ${url}`);
    return url;
  }

  write(rel: string, content: string | Buffer): void {
    const p = path.join(this.home, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }

  read(rel: string): string {
    return fs.readFileSync(path.join(this.home, rel), "utf8");
  }
}

export async function launchBrowser(): Promise<Browser> {
  // playwright-core launches Chromium on a new, empty, temporary profile (its own
  // --user-data-dir) and removes it on close.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A page in its own browser context (own cookies), failing the test on any dialog or page
 * error: the XSS checks rely on an `alert` never opening. */
export async function newPage(
  browser: Browser,
  opts: { colorScheme?: "light" | "dark" } = {},
): Promise<{ ctx: BrowserContext; page: Page; problems: string[]; httpErrors: string[] }> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: opts.colorScheme ?? "light" });
  // A wait for something the daemons do by themselves (a watcher's sync) took over Playwright's
  // 30 s on a loaded 2-core machine; each test's own 90 s budget still bounds it.
  ctx.setDefaultTimeout(60_000);
  const page = await ctx.newPage();
  const problems: string[] = [];
  const httpErrors: string[] = [];
  page.on("dialog", (d) => {
    problems.push(`a ${d.type()} dialog opened: ${d.message()}`);
    void d.dismiss();
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // Failed requests are reported below with their URL.
    if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  page.on("response", (r) => {
    // 401 is how a signed-out page learns it must sign in; anything else is a problem.
    if (r.status() >= 400 && r.status() !== 401) httpErrors.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  return { ctx, page, problems, httpErrors };
}

/** Takes a screenshot into docs/screenshots/ when asked (`UPDATE_SCREENSHOTS=1`), so that a
 * test run leaves the work tree as it found it. */
export async function shot(page: Page, name: string): Promise<void> {
  if (!process.env.UPDATE_SCREENSHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  // Let transitions settle so screenshots are stable.
  await page.waitForTimeout(300);
  // Toasts from earlier steps would cover the screen.
  await page.evaluate(() => document.querySelector(".toasts")?.replaceChildren());
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}
