#!/usr/bin/env python3
"""Benchmark dotsync's sync against the same work done with plain git.

For each tree size (default 1,000 and 10,000 dotfile-like files, made by mkhome.py) and each
repetition, in fresh temporary directories under /tmp:

  dotsync (release binary, no daemon: the CLI runs the sync in-process)
    first sync         machine A pushes the whole tree        `dotsync sync NAME --json`
    no change (1st)    the first sync after the push (it may still hash files whose ctime was
                       too recent to cache: git's "racy" rule)
    no change          a sync with nothing changed (stat cache warm)
    no change, daemon  the same through a running daemon: POST /v1/sync/NAME over HTTP
    no change, CLI->d  `dotsync sync NAME --json` while the daemon runs (CLI as HTTP client)
    1 edited file      after `mkhome.py mutate --count 1`
    100 edited files   after `mkhome.py mutate --count 100`
    pull (machine B)   a second machine's first sync: everything comes down
  git (the baseline, in a work tree holding the same files, with its own bare remote)
    first push         git add -A && git commit -q -m x && git push -q -u origin main
    cycle              git add -A && { git commit -q -m x || true; } && git pull -q && git push -q
                       (no change, after 1 and after 100 edits: the same mutations as dotsync)
    clone              git clone -q BARE DIR (the second machine's pull)
    status             git status --porcelain alone, on the clean tree

It prints a Markdown table of medians (min-max) and the ratio dotsync/git per row, then the
issue's goals for the largest size: a no-change sync faster than git's add+commit+pull+push
cycle, and within 2x of `git status` alone. With --phases it also prints when each NDJSON
`progress` phase line arrived (median ms since the process started), which shows where a
sync spends its time.

Nothing touches the real home: every machine gets its own HOME and DOTSYNC_HOME under a
temporary directory, git runs with GIT_CONFIG_GLOBAL pointing to a temporary file, and the
daemon listens on a free loopback port (never 11000).
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_NAME = "bench"


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Small helpers


def run(cmd, env, cwd=None, check=True, timeout=1800):
    """Runs a command, returning CompletedProcess; raises BenchError with its output on failure."""
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise BenchError("command failed (exit %d): %s\nstdout: %s\nstderr: %s" % (
            p.returncode, " ".join(cmd), p.stdout.decode(errors="replace")[-2000:],
            p.stderr.decode(errors="replace")[-2000:]))
    return p


def timed(cmd, env, cwd=None):
    t0 = time.perf_counter()
    p = run(cmd, env, cwd=cwd)
    return (time.perf_counter() - t0) * 1000.0, p


def timed_sh(script, env, cwd):
    return timed(["sh", "-c", script], env, cwd=cwd)[0]


def base_env():
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "TMPDIR", "TERM") if k in os.environ}
    keep.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return keep


def mkhome(args, *rest):
    return run([sys.executable, args.mkhome] + list(rest), base_env())


# ---------------------------------------------------------------------------------------------
# dotsync


class Machine:
    """One dotsync machine: its own HOME and DOTSYNC_HOME."""

    def __init__(self, args, root, name):
        self.args = args
        self.name = name
        self.home = os.path.join(root, name, "home")
        self.dotsync_home = os.path.join(root, name, "dotsync")
        os.makedirs(self.dotsync_home, exist_ok=True)
        self.env = base_env()
        self.env.update({
            "HOME": self.home,
            "DOTSYNC_HOME": self.dotsync_home,
            "DOTSYNC_MACHINE": "bench-" + name,
            "GIT_CONFIG_GLOBAL": args.gitconfig,
            "GIT_CONFIG_NOSYSTEM": "1",
            "NO_COLOR": "1",
        })
        self.env.pop("DOTSYNC_ADDR", None)
        # Pokes between machines stay on loopback; no relay.
        self.env["DOTSYNC_NOTIFY_ADDR"] = "127.0.0.1:0"
        self.env.pop("DOTSYNC_RELAY", None)
        self.daemon = None

    def cli(self, *a, check=True):
        return run([self.args.dotsync] + list(a), self.env, check=check)

    def config_add(self, remote, paths):
        self.cli("config", "add", CONFIG_NAME, "--remote", remote, "--auto", "false", *paths)

    def sync(self, expect=None):
        """Runs `dotsync sync NAME --json`; returns (ms, summary, phase arrival times in ms)."""
        t0 = time.perf_counter()
        p = subprocess.Popen([self.args.dotsync, "sync", CONFIG_NAME, "--json"], env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        phases, summary, lines = {}, None, []
        for raw in p.stdout:
            now = (time.perf_counter() - t0) * 1000.0
            lines.append(raw)
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            kind = ev.get("type")
            if kind == "progress":
                phases.setdefault(ev.get("phase"), now)
            elif kind == "start":
                phases.setdefault("start", now)
            elif kind == "summary":
                summary = ev
        err = p.stderr.read()
        rc = p.wait()
        ms = (time.perf_counter() - t0) * 1000.0
        phases["exit"] = ms
        if summary is not None:
            phases["summary"] = phases.get("summary", ms)
        check_summary(rc, summary, expect, b"".join(lines[-5:]), err)
        return ms, summary, phases

    def start_daemon(self):
        self.daemon = subprocess.Popen(
            [self.args.dotsync, "daemon", "--addr", "127.0.0.1:0"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dotsync_home, "daemon.log"),
                                                   "wb"))
        lock = os.path.join(self.dotsync_home, "state", "lock")
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.daemon.poll() is not None:
                raise BenchError("the daemon exited with %s; see %s/daemon.log" % (
                    self.daemon.returncode, self.dotsync_home))
            try:
                parts = open(lock).read().split()
            except OSError:
                parts = []
            if len(parts) >= 2 and parts[0] == str(self.daemon.pid):
                self.addr = parts[1]
                self.token = open(os.path.join(self.dotsync_home, "state", "token")).read().strip()
                try:
                    urllib.request.urlopen("http://%s/v1/health" % self.addr, timeout=5).read()
                except Exception:  # noqa: BLE001 - not up yet, or health needs no answer
                    pass
                return
            time.sleep(0.05)
        raise BenchError("the daemon did not write its address into %s" % lock)

    def daemon_sync(self, expect=None):
        """POST /v1/sync/NAME to the running daemon; returns (ms, summary)."""
        req = urllib.request.Request(
            "http://%s/v1/sync/%s" % (self.addr, CONFIG_NAME), data=b"", method="POST",
            headers={"Authorization": "Bearer " + self.token})
        t0 = time.perf_counter()
        summary, last = None, b""
        with urllib.request.urlopen(req, timeout=1800) as resp:
            for raw in resp:
                last = raw
                try:
                    ev = json.loads(raw)
                except ValueError:
                    continue
                if ev.get("type") == "summary":
                    summary = ev
        ms = (time.perf_counter() - t0) * 1000.0
        check_summary(0, summary, expect, last, b"")
        return ms, summary

    def stop_daemon(self):
        if self.daemon is None:
            return
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None


def check_summary(rc, summary, expect, tail, err):
    if rc != 0 or summary is None or not summary.get("ok"):
        raise BenchError("dotsync sync failed (exit %s)\nlast lines: %s\nstderr: %s" % (
            rc, tail.decode(errors="replace"), err.decode(errors="replace")[-2000:]))
    for key, want in (expect or {}).items():
        got = summary.get(key)
        if callable(want):
            ok = want(got)
        else:
            ok = got == want
        if not ok:
            raise BenchError("unexpected sync summary: %s = %r (expected %r)\nsummary: %s" % (
                key, got, want, json.dumps(summary)))


# ---------------------------------------------------------------------------------------------
# One repetition


def top_level_paths(home):
    return sorted("~/" + n for n in os.listdir(home))


def count_entries(home):
    """Regular files and symlinks under home, as dotsync counts them."""
    n = 0
    for root, dirs, files in os.walk(home):
        dirs[:] = [d for d in dirs if d != ".git"]
        n += len(files)
        n += sum(1 for d in dirs if os.path.islink(os.path.join(root, d)))
    return n


def one_rep(args, size, rep, template, samples, phases):
    root = tempfile.mkdtemp(prefix="sync-bench-%d-%d-" % (size, rep), dir=args.tmp)
    a = b = None
    try:
        def add(step, tool, ms):
            samples.setdefault((size, step, tool), []).append(ms)

        def add_phases(step, ph):
            phases.setdefault((size, step), []).append(ph)

        # --- dotsync -------------------------------------------------------------------------
        remote = os.path.join(root, "dotsync-remote.git")
        run(["git", "init", "-q", "--bare", "-b", "main", remote], git_env(args, root))
        a = Machine(args, root, "a")
        shutil.copytree(template, a.home, symlinks=True)
        total = count_entries(a.home)
        paths = top_level_paths(a.home)
        a.config_add(remote, paths)

        ms, _, ph = a.sync(expect={"pushed": total, "files": total})
        add("first sync", "dotsync", ms)
        add_phases("first sync", ph)

        ms, s, ph = a.sync(expect={"pushed": 0, "pulled": 0, "files": total})
        add("no change (1st after push)", "dotsync", ms)
        add_phases("no change (1st after push)", ph)
        for _ in range(args.nochange):
            ms, _, ph = a.sync(expect={"pushed": 0, "pulled": 0, "files": total})
            add("no change", "dotsync", ms)
            add_phases("no change", ph)

        seed = 1000 + rep
        for count, step in ((1, "1 edited file"), (100, "100 edited files")):
            if count > total:
                continue
            mkhome(args, "mutate", a.home, "--count", str(count), "--seed", str(seed))
            ms, _, ph = a.sync(expect={"pushed": count})
            add(step, "dotsync", ms)
            add_phases(step, ph)
            seed += 1

        b = Machine(args, root, "b")
        os.makedirs(b.home)
        b.config_add(remote, paths)
        ms, _, ph = b.sync(expect={"pulled": total})
        add("pull (machine B)", "dotsync", ms)
        add_phases("pull (machine B)", ph)
        if rep == 0:
            cmp = mkhome(args, "compare", a.home, b.home).stdout.decode().strip()
            if "missing_in_b=0" not in cmp or "content_diffs=0" not in cmp:
                raise BenchError("machine B does not hold machine A's files: " + cmp)

        # Through a running daemon: what the watcher, the app and `dotsync sync` use.
        a.start_daemon()
        try:
            a.daemon_sync()  # the daemon's first request opens the store and caches
            for _ in range(args.nochange):
                ms, _ = a.daemon_sync(expect={"pushed": 0, "pulled": 0, "files": total})
                add("no change, daemon (HTTP)", "dotsync", ms)
                ms, _, _ = a.sync(expect={"pushed": 0, "pulled": 0, "files": total})
                add("no change, CLI via daemon", "dotsync", ms)
        finally:
            a.stop_daemon()

        # --- git -----------------------------------------------------------------------------
        genv = git_env(args, root)
        gremote = os.path.join(root, "git-remote.git")
        run(["git", "init", "-q", "--bare", "-b", "main", gremote], genv)
        work = os.path.join(root, "git-a")
        shutil.copytree(template, work, symlinks=True)
        run(["git", "init", "-q", "-b", "main"], genv, cwd=work)
        run(["git", "remote", "add", "origin", gremote], genv, cwd=work)
        cycle = "git add -A && { git commit -q -m x || true; } && git pull -q && git push -q"

        add("first sync", "git", timed_sh(
            "git add -A && git commit -q -m x && git push -q -u origin main", genv, work))
        add("no change (1st after push)", "git", timed_sh(cycle, genv, work))
        for _ in range(args.nochange):
            ms = timed_sh(cycle, genv, work)
            for step in ("no change", "no change, daemon (HTTP)", "no change, CLI via daemon"):
                add(step, "git", ms)
        seed = 1000 + rep
        for count, step in ((1, "1 edited file"), (100, "100 edited files")):
            if count > total:
                continue
            mkhome(args, "mutate", work, "--count", str(count), "--seed", str(seed))
            add(step, "git", timed_sh(cycle, genv, work))
            seed += 1
        clone = os.path.join(root, "git-b")
        add("pull (machine B)", "git", timed(["git", "clone", "-q", gremote, clone], genv)[0])

        run(["git", "status", "--porcelain"], genv, cwd=work)  # warm: refresh the index
        for _ in range(args.nochange):
            ms, p = timed(["git", "status", "--porcelain"], genv, cwd=work)
            if p.stdout.strip():
                raise BenchError("git status is not clean: %s" % p.stdout[:500])
            add("git status --porcelain", "git", ms)
    finally:
        for m in (a, b):
            if m is not None:
                m.stop_daemon()
        if args.keep:
            print("kept %s" % root, file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def git_env(args, root):
    env = base_env()
    ghome = os.path.join(root, "git-home")
    os.makedirs(ghome, exist_ok=True)
    env.update({"HOME": ghome, "GIT_CONFIG_GLOBAL": args.gitconfig, "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0"})
    return env


# ---------------------------------------------------------------------------------------------
# Report

STEPS = [
    ("first sync", "first sync (push all)", "add -A + commit + push -u"),
    ("no change (1st after push)", "no change, 1st after push (CLI)", "cycle, nothing to commit"),
    ("no change", "no change (CLI, in-process)", "cycle, nothing to commit"),
    ("no change, daemon (HTTP)", "no change (daemon, POST /v1/sync)", "cycle, nothing to commit"),
    ("no change, CLI via daemon", "no change (CLI -> daemon)", "cycle, nothing to commit"),
    ("1 edited file", "1 edited file", "cycle"),
    ("100 edited files", "100 edited files", "cycle"),
    ("pull (machine B)", "2nd machine's first pull", "git clone"),
]


def fmt(vals):
    if not vals:
        return "—"
    med = statistics.median(vals)
    return "%s (%s–%s)" % (ms_str(med), ms_str(min(vals)), ms_str(max(vals)))


def ms_str(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v


def ratio(a, b):
    if not a or not b:
        return "—"
    return "%.2f" % (statistics.median(a) / statistics.median(b))


def report(args, samples, phases):
    out = []
    out.append("| files | step | dotsync ms, median (min–max) | git baseline | git ms, median "
               "(min–max) | dotsync/git |")
    out.append("|---:|---|---:|---|---:|---:|")
    for size in args.sizes:
        for key, label, glabel in STEPS:
            d = samples.get((size, key, "dotsync"), [])
            g = samples.get((size, key, "git"), [])
            if not d and not g:
                continue
            out.append("| %d | %s | %s | %s | %s | %s |" % (size, label, fmt(d), glabel, fmt(g),
                                                            ratio(d, g)))
        st = samples.get((size, "git status --porcelain", "git"), [])
        for key, label in (("no change", "no change (CLI) vs status"),
                           ("no change, daemon (HTTP)", "no change (daemon) vs status")):
            d = samples.get((size, key, "dotsync"), [])
            out.append("| %d | %s | %s | git status --porcelain | %s | %s |" % (
                size, label, fmt(d), fmt(st), ratio(d, st)))
    print("\n".join(out))

    size = max(args.sizes)
    st = samples.get((size, "git status --porcelain", "git"), [])
    cyc = samples.get((size, "no change", "git"), [])
    print()
    print("Goals at %d files (medians):" % size)
    for key, label in (("no change", "CLI, in-process"), ("no change, daemon (HTTP)", "daemon")):
        d = samples.get((size, key, "dotsync"), [])
        if not d or not cyc or not st:
            continue
        md, mc, ms = statistics.median(d), statistics.median(cyc), statistics.median(st)
        print("- no-change sync (%s) %s ms vs git add+commit+pull+push %s ms: %s" % (
            label, ms_str(md), ms_str(mc), "met" if md < mc else "MISSED"))
        print("- no-change sync (%s) %s ms vs 2x git status (%s ms): %.2fx, %s" % (
            label, ms_str(md), ms_str(2 * ms), md / ms, "met" if md <= 2 * ms else "MISSED"))

    if args.phases:
        print()
        print("dotsync phases: median ms since the process started when the first line of each "
              "phase arrived (`exit` = process exit)")
        print()
        order = ["start", "scan", "fetch", "plan", "commit", "push", "apply", "summary", "exit"]
        print("| files | step | " + " | ".join(order) + " |")
        print("|---:|---|" + "---:|" * len(order))
        for size in args.sizes:
            for key, label, _ in STEPS:
                rows = phases.get((size, key))
                if not rows:
                    continue
                cells = []
                for ph in order:
                    v = [r[ph] for r in rows if ph in r]
                    cells.append(ms_str(statistics.median(v)) if v else "")
                print("| %d | %s | %s |" % (size, label, " | ".join(cells)))


# ---------------------------------------------------------------------------------------------


def dotsync_version(path):
    """The binary's version and, when it lives in a git checkout, the commit it was built near."""
    try:
        v = run([path, "--version"], base_env()).stdout.decode().strip()
    except (BenchError, OSError):
        v = "unknown version"
    try:
        head = run(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"], base_env())
        v += ", repo at %s" % head.stdout.decode().strip()
    except (BenchError, OSError):
        pass
    return v


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="sync-bench.py",
        description=__doc__,
        epilog="Example: bench/sync-bench.py --sizes 1000,10000 --reps 5 --phases",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000",
                    help="comma-separated tree sizes in files (default: %(default)s)")
    ap.add_argument("--reps", type=int, default=5,
                    help="repetitions per size, each on fresh trees (default: %(default)s)")
    ap.add_argument("--nochange", type=int, default=3, metavar="N",
                    help="no-change syncs (and git status runs) timed per repetition "
                         "(default: %(default)s)")
    ap.add_argument("--dotsync", default=os.environ.get("DOTSYNC_BIN"),
                    help="the dotsync binary (default: $DOTSYNC_BIN, else "
                         "target/release/dotsync, built with `cargo build --release -p dotsync`)")
    ap.add_argument("--no-build", action="store_true",
                    help="do not run cargo build when using the default binary")
    ap.add_argument("--mkhome", default=os.environ.get("DOTSYNC_MKHOME"),
                    help="path of mkhome.py (default: $DOTSYNC_MKHOME, else "
                         "../shared/bench/mkhome.py relative to the repository root)")
    ap.add_argument("--seed", type=int, default=7, help="mkhome.py seed (default: %(default)s)")
    ap.add_argument("--tmp", default="/tmp", help="where temporary trees go (default: /tmp)")
    ap.add_argument("--phases", action="store_true",
                    help="also print when each NDJSON progress phase began")
    ap.add_argument("--json", metavar="FILE", help="also write every raw sample to FILE")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = ap.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error("--sizes takes numbers separated by commas, such as 1000,10000")
    if not args.sizes or min(args.sizes) < 10:
        ap.error("--sizes: each size must be at least 10 files")
    if args.reps < 1 or args.nochange < 1:
        ap.error("--reps and --nochange must be at least 1")
    if not args.mkhome:
        args.mkhome = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "bench",
                                                    "mkhome.py"))
    if not os.path.isfile(args.mkhome):
        ap.error("mkhome.py not found at %s; pass --mkhome PATH or set DOTSYNC_MKHOME" %
                 args.mkhome)
    return args


def main(argv):
    args = parse_args(argv)
    if not args.dotsync:
        args.dotsync = os.path.join(REPO_ROOT, "target", "release", "dotsync")
        if not args.no_build:
            print("building: cargo build --release -p dotsync", file=sys.stderr)
            p = subprocess.run(["cargo", "build", "--release", "-p", "dotsync"], cwd=REPO_ROOT)
            if p.returncode != 0:
                sys.exit("cargo build failed; fix the build or pass --dotsync PATH")
    args.dotsync = os.path.abspath(args.dotsync)
    if not os.access(args.dotsync, os.X_OK):
        sys.exit("no dotsync binary at %s; build it or pass --dotsync PATH" % args.dotsync)

    work = tempfile.mkdtemp(prefix="sync-bench-", dir=args.tmp)
    # A private copy: a cargo build elsewhere must not swap the binary in the middle of a run.
    pinned = os.path.join(work, "dotsync")
    shutil.copy2(args.dotsync, pinned)
    args.dotsync_source, args.dotsync = args.dotsync, pinned
    load_before = os.getloadavg()
    version = dotsync_version(args.dotsync)
    args.gitconfig = os.path.join(work, "gitconfig")
    with open(args.gitconfig, "w") as f:
        f.write("[user]\n\tname = Bench\n\temail = bench@example.invalid\n"
                "[init]\n\tdefaultBranch = main\n[pull]\n\trebase = false\n"
                "[advice]\n\tdetachedHead = false\n")
    samples, phases = {}, {}
    try:
        for size in args.sizes:
            template = os.path.join(work, "template-%d" % size)
            print("generating %d files with %s" % (size, args.mkhome), file=sys.stderr)
            mkhome(args, template, "--files", str(size), "--seed", str(args.seed))
            for rep in range(args.reps):
                t0 = time.time()
                one_rep(args, size, rep, template, samples, phases)
                print("size %d rep %d/%d done in %.1fs" % (size, rep + 1, args.reps,
                                                          time.time() - t0), file=sys.stderr)
    except BenchError as e:
        sys.exit("sync-bench: %s" % e)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print("dotsync %s (%s); git %s; %d repetitions per size (%d no-change runs each); %d CPUs; "
          "load average %s before, %s after" % (
              args.dotsync_source, version,
              run(["git", "--version"], base_env()).stdout.decode().split()[-1], args.reps,
              args.nochange, os.cpu_count() or 0, "%.1f" % load_before[0],
              "%.1f" % os.getloadavg()[0]))
    print()
    report(args, samples, phases)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": [{"size": k[0], "step": k[1], "tool": k[2], "ms": v}
                                   for k, v in samples.items()],
                       "phases": [{"size": k[0], "step": k[1], "runs": v}
                                  for k, v in phases.items()]}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
