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

  A->B (issue 11: an edit on machine A reaches machine B; A's sync + B's sync)
    dotsync            1 edit / 100 edits on A: A's `dotsync sync` then B's; first sync: A's
                       first push + B's first pull; nothing changed: the CLI sync above and
                       the daemon's (POST /v1/sync)
    git by hand        A: git add -A && git commit -q -m x && git push -q, B: git pull -q;
                       first: A's add/commit/push + B's git clone; nothing changed: git status
    Unison             (when `unison` is on PATH, or --unison PATH) A<->R then R<->B, R a plain
                       folder, profiles (batch, auto) in a temporary UNISON directory; first:
                       both hops into empty folders; nothing changed: one hop A<->R
    floor              read+hash all (find | xargs sha1sum), cp -a of the tree, stat all
                       (find -printf '%s %T@')
  B looks at its home once (untimed) after its first pull, more than 2 seconds later, as git's B
  refreshes its index and Unison runs each hop once: steady state, not the racy window.
  Peak memory of dotsync's first push and first pull: its own VmHWM (sampled from /proc) and
  wait4's ru_maxrss (the largest process of its tree, git included).

It prints a Markdown table of medians (min-max) and the ratio dotsync/git per one-machine row,
then per size the A->B table with ratios dotsync/git and dotsync/Unison, the peak memory
table, and issue 11's goals with PASS/MISS (at 10,000 files when measured, else the largest
size; growth from 10,000 to the largest size). With --phases it also prints when each NDJSON
`progress` phase line arrived (median ms since the process started), which shows where a
sync spends its time.

With --daemon-idle it times only the daemon's nothing-changed path on a watched (`auto`)
config, per size and repetition: `POST /v1/sync/NAME` to a daemon whose watcher saw nothing
since the last sync (the summary must say `walk_skipped: true`: no walk), `dotsync sync NAME`
through that daemon, `git status --porcelain` on a clean work tree of the same files, and the
stat-all floor.

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
import threading
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


def timed_rusage(cmd, env, cwd=None):
    """Runs cmd; returns (ms, max RSS in KiB of the largest process in its tree, stdout).

    The RSS is wait4's ru_maxrss: the child's own peak or that of the largest descendant it
    waited for, whichever is larger (not a sum)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as errf:
        p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=errf)
        out = p.stdout.read()
        p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        errf.seek(0)
        err = errf.read()
    ms = (time.perf_counter() - t0) * 1000.0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise BenchError("command failed (exit %d): %s\nstdout: %s\nstderr: %s" % (
            p.returncode, " ".join(cmd), out.decode(errors="replace")[-2000:],
            err.decode(errors="replace")[-2000:]))
    return ms, ru.ru_maxrss, out


class HwmSampler(threading.Thread):
    """Samples VmHWM (peak resident memory) of one process from /proc every few ms.

    VmHWM only grows, so the last reading before the process exits is its peak, give or take
    what it allocated in its last few milliseconds."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.path = "/proc/%d/status" % pid
        self.kib = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                with open(self.path) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.kib = max(self.kib, int(line.split()[1]))
                            break
            except (OSError, ValueError):
                return
            self.stop.wait(0.004)


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

    def config_add(self, remote, paths, auto=False):
        extra = ["--auto", "true", "--interval", "3600"] if auto else ["--auto", "false"]
        self.cli("config", "add", CONFIG_NAME, "--remote", remote, *extra, *paths)

    def status_of_config(self):
        req = urllib.request.Request(
            "http://%s/v1/status" % self.addr, headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=60) as resp:
            st = json.load(resp)
        for c in st.get("configs", []):
            if c.get("name") == CONFIG_NAME:
                return c
        raise BenchError("no config %s in the daemon's status" % CONFIG_NAME)

    def sync(self, expect=None, mem=False):
        """Runs `dotsync sync NAME --json`; returns (ms, summary, phase arrival times in ms).

        Afterwards self.last_rss is (dotsync's own peak RSS in KiB, sampled from /proc only
        with mem=True, else 0; wait4's ru_maxrss: the largest process of its tree, git
        included)."""
        t0 = time.perf_counter()
        p = subprocess.Popen([self.args.dotsync, "sync", CONFIG_NAME, "--json"], env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sampler = None
        if mem:
            sampler = HwmSampler(p.pid)
            sampler.start()
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
        _, status, ru = os.wait4(p.pid, 0)
        ms = (time.perf_counter() - t0) * 1000.0
        rc = p.returncode = os.waitstatus_to_exitcode(status)
        hwm = 0
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
            hwm = sampler.kib
        self.last_rss = (hwm, ru.ru_maxrss)
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


def wait_past_racy(t_end):
    """Sleeps until files written before t_end (time.time()) are older than dotsync's (and
    git's) 2-second "racy" window, so the next scan may cache their hashes: the steady state
    of a second machine, which does not sync again within two seconds of its first pull."""
    left = t_end + 2.2 - time.time()
    if left > 0:
        time.sleep(left)


def one_rep(args, size, rep, template, samples, phases, mem):
    root = tempfile.mkdtemp(prefix="sync-bench-%d-%d-" % (size, rep), dir=args.tmp)
    a = b = None
    try:
        def add(step, tool, ms):
            samples.setdefault((size, step, tool), []).append(ms)

        def add_phases(step, ph):
            phases.setdefault((size, step), []).append(ph)

        def add_mem(what, kib):
            mem.setdefault((size, what), []).append(kib)

        # --- dotsync -------------------------------------------------------------------------
        remote = os.path.join(root, "dotsync-remote.git")
        run(["git", "init", "-q", "--bare", "-b", "main", remote], git_env(args, root))
        a = Machine(args, root, "a")
        shutil.copytree(template, a.home, symlinks=True)
        total = count_entries(a.home)
        paths = top_level_paths(a.home)
        a.config_add(remote, paths)

        ms, _, ph = a.sync(expect={"pushed": total, "files": total}, mem=True)
        add("first sync", "dotsync", ms)
        add_phases("first sync", ph)
        add_mem("dotsync first push (own)", a.last_rss[0])
        add_mem("dotsync first push (tree)", a.last_rss[1])
        first_push = ms

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
        ms, _, ph = b.sync(expect={"pulled": total}, mem=True)
        add("pull (machine B)", "dotsync", ms)
        add_phases("pull (machine B)", ph)
        add_mem("dotsync first pull (own)", b.last_rss[0])
        add_mem("dotsync first pull (tree)", b.last_rss[1])
        add("A->B first sync", "dotsync", first_push + ms)
        if rep == 0:
            cmp = mkhome(args, "compare", a.home, b.home).stdout.decode().strip()
            if "missing_in_b=0" not in cmp or "content_diffs=0" not in cmp:
                raise BenchError("machine B does not hold machine A's files: " + cmp)

        # A -> B: an edit on A reaches B (A's sync pushes, B's sync pulls). B first looks at
        # its home once, after the racy window of the files its pull wrote.
        wait_past_racy(time.time())
        b.sync(expect={"pushed": 0, "pulled": 0, "files": total})
        for rnd in range(args.rounds):
            for count, step in ((1, "A->B 1 edited file"), (100, "A->B 100 edited files")):
                if count > total:
                    continue
                mkhome(args, "mutate", a.home, "--count", str(count),
                       "--seed", str(ab_seed(rep, rnd, count)))
                ms_a, _, ph_a = a.sync(expect={"pushed": count, "pulled": 0})
                ms_b, _, ph_b = b.sync(expect={"pulled": count, "pushed": 0})
                add(step, "dotsync", ms_a + ms_b)
                add(step + " (A)", "dotsync", ms_a)
                add(step + " (B)", "dotsync", ms_b)
                add_phases(step + " (A)", ph_a)
                add_phases(step + " (B)", ph_b)
        if rep == 0:
            cmp = mkhome(args, "compare", a.home, b.home).stdout.decode().strip()
            if "missing_in_b=0" not in cmp or "content_diffs=0" not in cmp:
                raise BenchError("after the A->B edits machine B differs from A: " + cmp)

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

        # --- Unison: A <-> R <-> B through a plain folder R, when installed ------------------
        if args.unison:
            unison_rep(args, root, template, total, rep, add)

        # --- git -----------------------------------------------------------------------------
        genv = git_env(args, root)
        gremote = os.path.join(root, "git-remote.git")
        run(["git", "init", "-q", "--bare", "-b", "main", gremote], genv)
        work = os.path.join(root, "git-a")
        shutil.copytree(template, work, symlinks=True)
        run(["git", "init", "-q", "-b", "main"], genv, cwd=work)
        run(["git", "remote", "add", "origin", gremote], genv, cwd=work)
        cycle = "git add -A && { git commit -q -m x || true; } && git pull -q && git push -q"

        ms, kib, _ = timed_rusage(
            ["sh", "-c", "git add -A && git commit -q -m x && git push -q -u origin main"],
            genv, work)
        add("first sync", "git", ms)
        add_mem("git add+commit+push (tree)", kib)
        git_first_push = ms
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
        ms, kib, _ = timed_rusage(["git", "clone", "-q", gremote, clone], genv)
        add("pull (machine B)", "git", ms)
        add_mem("git clone (tree)", kib)
        add("A->B first sync", "git", git_first_push + ms)

        # A -> B by hand: A commits and pushes, B pulls.
        wait_past_racy(time.time())
        run(["git", "status", "--porcelain"], genv, cwd=clone)  # B refreshes its index once
        push = "git add -A && git commit -q -m x && git push -q"
        for rnd in range(args.rounds):
            for count, step in ((1, "A->B 1 edited file"), (100, "A->B 100 edited files")):
                if count > total:
                    continue
                mkhome(args, "mutate", work, "--count", str(count),
                       "--seed", str(ab_seed(rep, rnd, count)))
                ms_a = timed_sh(push, genv, work)
                ms_b = timed_sh("git pull -q", genv, clone)
                add(step, "git", ms_a + ms_b)
                add(step + " (A)", "git", ms_a)
                add(step + " (B)", "git", ms_b)

        run(["git", "status", "--porcelain"], genv, cwd=work)  # warm: refresh the index
        for _ in range(args.nochange):
            ms, p = timed(["git", "status", "--porcelain"], genv, cwd=work)
            if p.stdout.strip():
                raise BenchError("git status is not clean: %s" % p.stdout[:500])
            add("git status --porcelain", "git", ms)

        # --- floors: what any tool must at least do ------------------------------------------
        fenv = base_env()
        for _ in range(args.nochange):
            add("stat all", "floor", timed_sh(
                "find . -printf '%s %T@\\n' >/dev/null", fenv, template))
        add("read+hash all", "floor", timed_sh(
            "find . -type f -print0 | xargs -0 sha1sum >/dev/null", fenv, template))
        dst = os.path.join(root, "floor-copy")
        add("cp -a", "floor", timed(["cp", "-a", template, dst], fenv)[0])
        shutil.rmtree(dst, ignore_errors=True)
    finally:
        for m in (a, b):
            if m is not None:
                m.stop_daemon()
        if args.keep:
            print("kept %s" % root, file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def idle_rep(args, size, rep, template, samples):
    """--daemon-idle: the nothing-changed path through a daemon whose watcher saw nothing."""
    root = tempfile.mkdtemp(prefix="sync-bench-idle-%d-%d-" % (size, rep), dir=args.tmp)
    a = None
    try:
        def add(step, tool, ms):
            samples.setdefault((size, step, tool), []).append(ms)

        remote = os.path.join(root, "dotsync-remote.git")
        run(["git", "init", "-q", "--bare", "-b", "main", remote], git_env(args, root))
        a = Machine(args, root, "a")
        shutil.copytree(template, a.home, symlinks=True)
        total = count_entries(a.home)
        a.config_add(remote, top_level_paths(a.home), auto=True)
        a.sync(expect={"pushed": total, "files": total})
        wait_past_racy(time.time())
        a.sync(expect={"pushed": 0, "pulled": 0, "files": total})
        a.start_daemon()
        try:
            deadline = time.time() + 300
            while True:
                c = a.status_of_config()
                if (c.get("watch") == "watching" and c.get("state") != "syncing"
                        and c.get("last_sync") is not None):
                    break
                if time.time() > deadline:
                    raise BenchError("the daemon did not watch the config: %s" % c)
                time.sleep(0.05)
            # The sync the daemon ran at start may have walked before the watches were placed:
            # at most one more walk, then no more.
            for _ in range(3):
                ms, s = a.daemon_sync(expect={"pushed": 0, "pulled": 0, "files": total})
                add("daemon, walk (warm-up)", "dotsync", ms)
                if s.get("walk_skipped"):
                    break
            else:
                raise BenchError("the daemon kept walking the home: see %s/daemon.log" %
                                 a.dotsync_home)
            for _ in range(args.nochange):
                ms, _ = a.daemon_sync(expect={"pushed": 0, "pulled": 0, "files": total,
                                              "walk_skipped": True})
                add("no change, daemon idle (HTTP)", "dotsync", ms)
                ms, _, _ = a.sync(expect={"pushed": 0, "pulled": 0, "files": total,
                                          "walk_skipped": True})
                add("no change, daemon idle (CLI)", "dotsync", ms)
        finally:
            a.stop_daemon()

        genv = git_env(args, root)
        work = os.path.join(root, "git-a")
        shutil.copytree(template, work, symlinks=True)
        run(["git", "init", "-q", "-b", "main"], genv, cwd=work)
        run(["sh", "-c", "git add -A && git commit -q -m x"], genv, cwd=work)
        wait_past_racy(time.time())
        run(["git", "status", "--porcelain"], genv, cwd=work)  # warm: refresh the index
        for _ in range(args.nochange):
            ms, p = timed(["git", "status", "--porcelain"], genv, cwd=work)
            if p.stdout.strip():
                raise BenchError("git status is not clean: %s" % p.stdout[:500])
            add("git status --porcelain", "git", ms)
            add("stat all", "floor", timed_sh(
                "find . -printf '%s %T@\\n' >/dev/null", base_env(), template))
    finally:
        if a is not None:
            a.stop_daemon()
        if args.keep:
            print("kept %s" % root, file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def idle_report(samples, loads):
    print("| files | work | median ms (min–max) | / `git status` |")
    print("|---:|---|---:|---:|")
    for size in sorted({k[0] for k in samples}):
        gs = samples.get((size, "git status --porcelain", "git"), [])
        for step, tool in (("no change, daemon idle (HTTP)", "dotsync"),
                           ("no change, daemon idle (CLI)", "dotsync"),
                           ("git status --porcelain", "git"), ("stat all", "floor")):
            vals = samples.get((size, step, tool), [])
            if not vals:
                continue
            print("| %d | %s | %s | %s |" % (size, step, fmt(vals), ratio(vals, gs)))
    print()
    for size, (l0, l1) in sorted(loads.items()):
        print("load average at %d files: %.1f before, %.1f after" % (size, l0, l1))


def ab_seed(rep, rnd, count):
    """The same mutation seeds for dotsync, Unison and git, different per round."""
    return 5000 + 100 * rep + 10 * rnd + (1 if count == 1 else 2)


def unison_rep(args, root, template, total, rep, add):
    """Unison between A and a plain folder R, and between R and B (two runs per A->B sync).

    Profiles live in a temporary UNISON directory: batch, auto, fastcheck on, no log (`-ui
    text` on the command line: a profile may not set it)."""
    ua, ur, ub = (os.path.join(root, "unison-" + n) for n in ("a", "r", "b"))
    shutil.copytree(template, ua, symlinks=True)
    os.makedirs(ur)
    os.makedirs(ub)
    prof = os.path.join(root, "unison-profiles")
    uhome = os.path.join(root, "unison-home")
    os.makedirs(prof)
    os.makedirs(uhome)
    for name, r1, r2 in (("ar", ua, ur), ("rb", ur, ub)):
        with open(os.path.join(prof, name + ".prf"), "w") as f:
            f.write("root = %s\nroot = %s\nbatch = true\nauto = true\n"
                    "fastcheck = true\nlog = false\nconfirmbigdel = false\n"
                    "contactquietly = true\nsilent = true\n" % (r1, r2))
    uenv = base_env()
    uenv.update({"HOME": uhome, "UNISON": prof})

    def uni(name):
        return timed([args.unison, name, "-ui", "text"], uenv)[0]

    first = uni("ar") + uni("rb")
    add("A->B first sync", "unison", first)
    if rep == 0:
        cmp = mkhome(args, "compare", ua, ub).stdout.decode().strip()
        if "missing_in_b=0" not in cmp or "content_diffs=0" not in cmp:
            raise BenchError("Unison's B does not hold A's files: " + cmp)
    wait_past_racy(time.time())
    uni("ar")  # settle: the same first look after the copy that dotsync's B and git get
    uni("rb")
    for _ in range(args.nochange):
        add("no change", "unison", uni("ar"))
    for rnd in range(args.rounds):
        for count, step in ((1, "A->B 1 edited file"), (100, "A->B 100 edited files")):
            if count > total:
                continue
            mkhome(args, "mutate", ua, "--count", str(count),
                   "--seed", str(ab_seed(rep, rnd, count)))
            add(step, "unison", uni("ar") + uni("rb"))


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


def med(vals):
    return statistics.median(vals) if vals else None


def ratio_x(a, b):
    if not a or not b:
        return "—"
    return "%.2f" % (statistics.median(a) / statistics.median(b))


def mib(vals):
    if not vals or not any(vals):
        return "—"
    m = statistics.median(vals) / 1024.0
    return "%.1f (%.1f–%.1f)" % (m, min(vals) / 1024.0, max(vals) / 1024.0)


# The A->B rows of issue 11: (label, dotsync/git/unison sample step, git's label, floor steps,
# git sample step when it differs from the dotsync step, Unison's label)
AB_ROWS = [
    ("1 edited file A→B", "A->B 1 edited file", "add, commit, push + pull", (), None, "A↔R + R↔B"),
    ("100 edited files A→B", "A->B 100 edited files", "add, commit, push + pull", (), None,
     "A↔R + R↔B"),
    ("first sync A→B (push + second machine's pull)", "A->B first sync",
     "add, commit, push + clone", ("read+hash all", "cp -a"), None, "A↔R + R↔B"),
    ("nothing changed, CLI", "no change", "`git status`", ("stat all",),
     "git status --porcelain", "one hop A↔R"),
    ("nothing changed, daemon (POST /v1/sync)", "no change, daemon (HTTP)", "`git status`",
     ("stat all",), "git status --porcelain", None),
]


def ab_table(size, samples, load):
    def get(step, tool):
        return samples.get((size, step, tool), [])

    out = ["### %d files (load average %.1f before, %.1f after)" % (size, load[0], load[1]), "",
           "| work | dotsync | git by hand | Unison (A↔R↔B) | floor | dotsync/git | "
           "dotsync/Unison |", "|---|---:|---|---|---|---:|---:|"]
    for label, step, glabel, floors, gstep, ulabel in AB_ROWS:
        d = get(step, "dotsync")
        g = get(gstep or step, "git")
        u = get(step, "unison") if ulabel else []
        fl = ", ".join("%s %s" % (f, fmt(get(f, "floor"))) for f in floors if get(f, "floor"))
        out.append("| %s | %s | %s: %s | %s | %s | %s | %s |" % (
            label, fmt(d), glabel, fmt(g), ("%s: %s" % (ulabel, fmt(u))) if u else "—",
            fl or "–", ratio_x(d, g), ratio_x(d, u)))
    parts = []
    for step, label in (("A->B 1 edited file", "1 edit"), ("A->B 100 edited files", "100 edits")):
        da, db = get(step + " (A)", "dotsync"), get(step + " (B)", "dotsync")
        ga, gb = get(step + " (A)", "git"), get(step + " (B)", "git")
        if da or ga:
            parts.append("%s: dotsync A %s + B %s, git A %s + B %s" % (
                label, fmt(da), fmt(db), fmt(ga), fmt(gb)))
    fp, pl = get("first sync", "dotsync"), get("pull (machine B)", "dotsync")
    gp, gc = get("first sync", "git"), get("pull (machine B)", "git")
    if fp or gp:
        parts.append("first sync: dotsync push %s + pull %s, git add/commit/push %s + clone %s" %
                     (fmt(fp), fmt(pl), fmt(gp), fmt(gc)))
    out.append("")
    out.append("Medians (min–max) in ms. Parts (A's sync, B's sync): " + "; ".join(parts) + ".")
    return out


def goals(args, samples, mem):
    """Issue 11's goals, PASS or MISS each, with the figures they were judged on."""
    sizes = sorted(args.sizes)
    gs = 10000 if 10000 in sizes else max(sizes)
    small = 1000 if 1000 in sizes else min(sizes)
    big = max(sizes)
    lines = ["Goals (issue 11) at %d files, medians:" % gs]

    def m(size, step, tool):
        return med(samples.get((size, step, tool), []))

    def verdict(ok):
        return "PASS" if ok else "MISS"

    def line(desc, a, b, limit, unit=""):
        if a is None or b is None:
            lines.append("- %s: not measured" % desc)
            return
        r = a / b
        lines.append("- %s: %s / %s = %.2f%s (goal ≤ %.2f) %s" % (
            desc, ms_str(a), ms_str(b), r, unit, limit, verdict(r <= limit)))

    line("1 edited file A→B, dotsync / git by hand", m(gs, "A->B 1 edited file", "dotsync"),
         m(gs, "A->B 1 edited file", "git"), 0.6)
    if small != gs:
        line("1 edited file A→B, dotsync at %d / at %d files" % (gs, small),
             m(gs, "A->B 1 edited file", "dotsync"), m(small, "A->B 1 edited file", "dotsync"),
             1.5)
    line("100 edited files A→B, dotsync / git by hand", m(gs, "A->B 100 edited files", "dotsync"),
         m(gs, "A->B 100 edited files", "git"), 0.8)
    line("first sync A→B, dotsync / git add+commit+push + clone",
         m(gs, "A->B first sync", "dotsync"), m(gs, "A->B first sync", "git"), 0.25)
    cpa = m(gs, "cp -a", "floor")
    if cpa and m(gs, "A->B first sync", "dotsync"):
        lines.append("  (first sync A→B is %.1fx the `cp -a` floor)" % (
            m(gs, "A->B first sync", "dotsync") / cpa))
    if small != big:
        for what in ("dotsync first push (own)", "dotsync first pull (own)"):
            a, b = med(mem.get((big, what), [])), med(mem.get((small, what), []))
            if a and b:
                lines.append("- memory flat: %s peak RSS at %d / at %d files: %.1f / %.1f MiB = "
                             "%.2f (goal ≤ 1.50 while the tree grows %dx) %s" % (
                                 what.replace(" (own)", ""), big, small, a / 1024.0,
                                 b / 1024.0, a / b, big // small, verdict(a / b <= 1.5)))
            else:
                lines.append("- memory flat (%s): not measured" % what)
    line("nothing changed, CLI sync / `git status`", m(gs, "no change", "dotsync"),
         m(gs, "git status --porcelain", "git"), 1.5)
    line("nothing changed, daemon sync / `git status`", m(gs, "no change, daemon (HTTP)",
                                                           "dotsync"),
         m(gs, "git status --porcelain", "git"), 1.0)
    if big > gs:
        f = big / gs
        lines.append("- growth %d → %d files (%.0fx the files; goal: each figure at most %.0fx):"
                     % (gs, big, f, f))
        for label, step, _, _, _, _ in AB_ROWS:
            a, b = m(big, step, "dotsync"), m(gs, step, "dotsync")
            if a is None or b is None:
                continue
            lines.append("  - %s: %s → %s ms, %.1fx %s" % (label, ms_str(b), ms_str(a), a / b,
                                                           verdict(a / b <= f)))
        for what in ("dotsync first push (own)", "dotsync first pull (own)"):
            a, b = med(mem.get((big, what), [])), med(mem.get((gs, what), [])) 
            if a and b:
                lines.append("  - %s peak RSS: %.1f → %.1f MiB, %.1fx %s" % (
                    what.replace(" (own)", ""), b / 1024.0, a / 1024.0, a / b,
                    verdict(a / b <= f)))
    return lines


def report(args, samples, phases, mem, loads):
    out = ["## One machine (each sync alone), all sizes", ""]
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

    print()
    print("## A→B (issue 11): A's sync + B's sync, two machines on one bare remote")
    for size in args.sizes:
        print()
        print("\n".join(ab_table(size, samples, loads.get(size, (0.0, 0.0)))))

    print()
    print("## Peak memory, MiB, median (min–max)")
    print()
    print("dotsync's own peak (VmHWM sampled from /proc every 4 ms) and the largest process of "
          "its tree (wait4 ru_maxrss: dotsync or a git it ran, such as the remote's "
          "index-pack); git by hand: the largest process of the command.")
    print()
    cols = ["dotsync first push (own)", "dotsync first push (tree)", "dotsync first pull (own)",
            "dotsync first pull (tree)", "git add+commit+push (tree)", "git clone (tree)"]
    print("| files | " + " | ".join(cols) + " |")
    print("|---:|" + "---:|" * len(cols))
    for size in args.sizes:
        print("| %d | %s |" % (size, " | ".join(mib(mem.get((size, c), [])) for c in cols)))

    print()
    print("\n".join(goals(args, samples, mem)))

    if args.phases:
        print()
        print("dotsync phases: median ms since the process started when the first line of each "
              "phase arrived (`exit` = process exit)")
        print()
        order = ["start", "scan", "fetch", "plan", "commit", "push", "apply", "summary", "exit"]
        print("| files | step | " + " | ".join(order) + " |")
        print("|---:|---|" + "---:|" * len(order))
        for size in args.sizes:
            for key, label, _ in PHASE_STEPS:
                rows = phases.get((size, key))
                if not rows:
                    continue
                cells = []
                for ph in order:
                    v = [r[ph] for r in rows if ph in r]
                    cells.append(ms_str(statistics.median(v)) if v else "")
                print("| %d | %s | %s |" % (size, label, " | ".join(cells)))


PHASE_STEPS = STEPS + [
    ("A->B 1 edited file (A)", "A→B 1 edit: A's sync", None),
    ("A->B 1 edited file (B)", "A→B 1 edit: B's sync", None),
    ("A->B 100 edited files (A)", "A→B 100 edits: A's sync", None),
    ("A->B 100 edited files (B)", "A→B 100 edits: B's sync", None),
]


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
    ap.add_argument("--reps-large", type=int, metavar="N",
                    help="repetitions for sizes of at least --large-from files (default: --reps)")
    ap.add_argument("--large-from", type=int, default=100000, metavar="FILES",
                    help="the size from which --reps-large applies (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=2, metavar="N",
                    help="A→B rounds (1 edit, then 100 edits) per repetition "
                         "(default: %(default)s)")
    ap.add_argument("--unison", default=shutil.which("unison"),
                    help="the unison binary for the Unison column (default: unison on PATH, "
                         "%(default)s)")
    ap.add_argument("--no-unison", action="store_true", help="leave the Unison column out")
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
                         "bench/mkhome.py)")
    ap.add_argument("--seed", type=int, default=7, help="mkhome.py seed (default: %(default)s)")
    ap.add_argument("--tmp", default="/tmp", help="where temporary trees go (default: /tmp)")
    ap.add_argument("--phases", action="store_true",
                    help="also print when each NDJSON progress phase began")
    ap.add_argument("--json", metavar="FILE", help="also write every raw sample to FILE")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    ap.add_argument("--daemon-idle", action="store_true",
                    help="time only the daemon's nothing-changed sync of a watched config "
                         "(no walk) against git status; --nochange runs per repetition")
    args = ap.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error("--sizes takes numbers separated by commas, such as 1000,10000")
    if not args.sizes or min(args.sizes) < 10:
        ap.error("--sizes: each size must be at least 10 files")
    if args.reps < 1 or args.nochange < 1 or args.rounds < 1:
        ap.error("--reps, --nochange and --rounds must be at least 1")
    if args.reps_large is None:
        args.reps_large = args.reps
    if args.reps_large < 1:
        ap.error("--reps-large must be at least 1")
    if args.no_unison:
        args.unison = None
    if not args.mkhome:
        args.mkhome = os.path.join(REPO_ROOT, "bench", "mkhome.py")
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
    samples, phases, mem, loads = {}, {}, {}, {}
    try:
        for size in args.sizes:
            template = os.path.join(work, "template-%d" % size)
            print("generating %d files with %s" % (size, args.mkhome), file=sys.stderr)
            mkhome(args, template, "--files", str(size), "--seed", str(args.seed))
            reps = args.reps_large if size >= args.large_from else args.reps
            load0 = os.getloadavg()[0]
            for rep in range(reps):
                t0 = time.time()
                if args.daemon_idle:
                    idle_rep(args, size, rep, template, samples)
                else:
                    one_rep(args, size, rep, template, samples, phases, mem)
                print("size %d rep %d/%d done in %.1fs (load %.1f)" % (
                    size, rep + 1, reps, time.time() - t0, os.getloadavg()[0]), file=sys.stderr)
            loads[size] = (load0, os.getloadavg()[0])
            shutil.rmtree(template, ignore_errors=True)
    except BenchError as e:
        sys.exit("sync-bench: %s" % e)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print("dotsync %s (%s); git %s; %s; %d repetitions per size (%d for %d files and more; "
          "%d no-change runs and %d A→B rounds each); %d CPUs; load average %s before, %s after;"
          " %s" % (
              args.dotsync_source, version,
              run(["git", "--version"], base_env()).stdout.decode().split()[-1],
              unison_version(args.unison), args.reps, args.reps_large, args.large_from,
              args.nochange, args.rounds, os.cpu_count() or 0, "%.1f" % load_before[0],
              "%.1f" % os.getloadavg()[0], time.strftime("%Y-%m-%d")))
    print()
    if args.daemon_idle:
        idle_report(samples, loads)
        return
    report(args, samples, phases, mem, loads)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": [{"size": k[0], "step": k[1], "tool": k[2], "ms": v}
                                   for k, v in samples.items()],
                       "phases": [{"size": k[0], "step": k[1], "runs": v}
                                  for k, v in phases.items()],
                       "memory_kib": [{"size": k[0], "what": k[1], "kib": v}
                                      for k, v in mem.items()],
                       "load": {str(k): v for k, v in loads.items()}}, f, indent=1)


def unison_version(path):
    if not path:
        return "no unison (column left out)"
    env = base_env()
    env["HOME"] = tempfile.gettempdir()  # unison refuses to start without one
    try:
        return run([path, "-version"], env).stdout.decode().strip()
    except (BenchError, OSError) as e:
        return "unison at %s unusable: %s" % (path, e)


if __name__ == "__main__":
    main(sys.argv[1:])
