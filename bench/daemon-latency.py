#!/usr/bin/env python3
"""Benchmark the daemon's automatic syncing (issue 4): latency of an edit, and cost at idle.

1. Latency, two machines A and B with real daemons and one bare remote, in each of --modes:
     direct  both keep every default (500 ms quiet period, remote checked every 60 s); A pokes
             B over UDP after its push (both listen on and announce 127.0.0.1 only);
     relay   the same through a mosquitto the script starts on a free loopback port, with direct
             pokes off (DOTSYNC_NOTIFY=off, DOTSYNC_RELAY=mqtt://127.0.0.1:PORT);
     poll    issue 4's setup: B checks the remote every second (interval_s = 1), pokes on too.
   Each mode waits until A and B see each other reachable (GET /v1/machines). For each of
   --edits edits (default 20), after a random pause of 0.5-1.5 s, A's ~/.zshrc is rewritten,
   and the script measures
     write on A -> commit on the remote  (the remote's refs/heads/main changes)
     write on A -> file on B             (B's ~/.zshrc holds the new bytes)
   polling every 2 ms (plain file reads, no process spawned).

2. Idle, one machine C whose config covers --files files (default 10,000, made by
   bench/mkhome.py, or --mkhome), with the listener for pokes (loopback) and a relay (mosquitto on
   loopback) on: after the first sync and a short settle, the daemon's resident
   memory, CPU time (its own, and its children's: the git of the remote check), context switches
   (a wake-up count) and inotify watches, over --idle seconds (default 60).

3. `dotsync status` against C's running daemon: wall time over 30 runs.

It prints medians, 95th percentiles (nearest rank), min and max. Nothing touches the real home:
every machine gets its own HOME and DOTSYNC_HOME in a temporary directory, git runs with
GIT_CONFIG_GLOBAL pointing to an empty file, and daemons listen on free loopback ports.

Every packet goes to 127.0.0.1: daemons get DOTSYNC_NOTIFY_ADDR=127.0.0.1:0, mosquitto listens
on 127.0.0.1 only, and every process the script starts is stopped.

Usage: bench/daemon-latency.py [--dotsync PATH] [--edits N] [--modes direct,relay,poll]
                               [--files N] [--idle SECONDS]
By default it builds and uses target/release/dotsync.
"""

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Machine:
    def __init__(self, world, name, dotsync, extra_env=None):
        self.name = name
        self.home = os.path.join(world, name, "home")
        self.dotsync_home = os.path.join(self.home, ".dotsync")
        os.makedirs(self.home, exist_ok=True)
        self.dotsync = dotsync
        self.proc = None
        self.addr = None
        self.token = None
        self.log = os.path.join(world, name, "daemon.log")
        self.env = dict(os.environ)
        self.env.update({
            "HOME": self.home,
            "DOTSYNC_HOME": self.dotsync_home,
            "DOTSYNC_MACHINE": name,
            "DOTSYNC_LOG": "info",
            "NO_COLOR": "1",
            "GIT_CONFIG_GLOBAL": os.path.join(world, "gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@example.invalid",
        })
        for k in ("DOTSYNC_ADDR", "DOTSYNC_DEBOUNCE_MS", "DOTSYNC_WATCH_LIMIT", "DOTSYNC_RELAY",
                  "DOTSYNC_NOTIFY", "DOTSYNC_SETTLE_MS"):
            self.env.pop(k, None)
        # Pokes stay on loopback: the listener binds and announces 127.0.0.1 only.
        self.env["DOTSYNC_NOTIFY_ADDR"] = "127.0.0.1:0"
        self.env.update(extra_env or {})

    def start(self):
        lock = os.path.join(self.dotsync_home, "state", "lock")
        self.proc = subprocess.Popen([self.dotsync, "daemon", "--addr", "127.0.0.1:0"],
                                     env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"))
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit("daemon %s exited:\n%s" % (self.name, open(self.log).read()))
            try:
                parts = open(lock).read().split()
                if len(parts) == 2:
                    self.addr = parts[1]
                    urllib.request.urlopen("http://%s/v1/health" % self.addr, timeout=2)
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        else:
            sys.exit("daemon %s did not start" % self.name)
        self.token = open(os.path.join(self.dotsync_home, "state", "token")).read().strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def api(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://%s%s" % (self.addr, path), data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=600) as r:
            text = r.read().decode()
        return json.loads(text) if text.strip() else None

    def status(self, name):
        for c in self.api("GET", "/v1/status")["configs"]:
            if c["name"] == name:
                return c
        return None

    def machines(self):
        return self.api("GET", "/v1/machines")

    def wait_reachable(self, other, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for r in self.machines()["remotes"]:
                for m in r["machines"]:
                    if m["name"] == other and m["reachable"]:
                        return m
            time.sleep(0.1)
        sys.exit("%s never saw %s reachable; log:\n%s" % (
            self.name, other, open(self.log).read()[-3000:]))

    def wait_synced(self, name, timeout=900):
        deadline = time.time() + timeout
        while time.time() < deadline:
            c = self.status(name)
            if c and c["last_sync"] and c["state"] in ("idle", "conflict") and \
                    c["pending_changes"] == 0:
                return c
            time.sleep(0.1)
        sys.exit("%s: %s did not finish its sync; log:\n%s" % (
            self.name, name, open(self.log).read()[-3000:]))


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def pct(values, p):
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def row(label, values, unit="ms"):
    return "| %-40s | %8.0f | %8.0f | %8.0f | %8.0f |" % (
        label + " (" + unit + ")", statistics.median(values), pct(values, 95), min(values),
        max(values))


def proc_stat(pid):
    """(utime+stime, cutime+cstime) in seconds, RSS KiB, HWM KiB, context switches per thread,
    inotify watches, threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / tick
    children = (int(fields[13]) + int(fields[14])) / tick
    rss = hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    switches = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches[tid] = switches.get(tid, 0) + int(line.split()[1])
        except OSError:
            pass
    watches = 0
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == "anon_inode:inotify":
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    watches += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            pass
    threads = len(os.listdir("/proc/%d/task" % pid))
    return own, children, rss, hwm, switches, watches, threads


class Mosquitto:
    """A mosquitto broker on a free loopback port, with its own config file."""

    def __init__(self, world):
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(binary):
            sys.exit("mosquitto is not installed (scripts/deps installs it; Debian: "
                     "apt-get install mosquitto), or leave out the relay mode")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        conf = os.path.join(world, "mosquitto-%d.conf" % self.port)
        write(conf, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
              % self.port)
        self.proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    sys.exit("mosquitto did not start")
                time.sleep(0.05)
        self.url = "mqtt://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def latency(world, dotsync, edits, mode):
    remote = os.path.join(world, "dots-%s.git" % mode)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", remote], check=True)
    broker = Mosquitto(world) if mode == "relay" else None
    env = {"DOTSYNC_NOTIFY": "off", "DOTSYNC_RELAY": broker.url} if broker else {}
    a = Machine(os.path.join(world, mode), "laptop", dotsync, env)
    b = Machine(os.path.join(world, mode), "desktop", dotsync, env)
    try:
        a.start()
        b.start()
        a.api("POST", "/v1/config", {"name": "dots", "paths": ["~/.zshrc"], "remote": remote})
        cfg_b = {"name": "dots", "paths": ["~/.zshrc"], "remote": remote}
        if mode == "poll":
            cfg_b["interval_s"] = 1
        b.api("POST", "/v1/config", cfg_b)
        zshrc_a = os.path.join(a.home, ".zshrc")
        zshrc_b = os.path.join(b.home, ".zshrc")
        write(zshrc_a, "# edit 0\n")
        deadline = time.time() + 60
        while read(zshrc_b) != "# edit 0\n":
            if time.time() > deadline:
                sys.exit("the first edit never reached B")
            time.sleep(0.05)
        a.wait_synced("dots")
        b.wait_synced("dots")
        a.wait_reachable("desktop")
        b.wait_reachable("laptop")
        ref = os.path.join(remote, "refs", "heads", "main")
        to_remote, to_b = [], []
        for i in range(1, edits + 1):
            time.sleep(random.uniform(0.5, 1.5))
            before = read(ref)
            text = "# edit %d\nexport BENCH=%d\n" % (i, i)
            t0 = time.perf_counter()
            write(zshrc_a, text)
            t_remote = t_b = None
            deadline = t0 + 60
            while t_remote is None or t_b is None:
                now = time.perf_counter()
                if now > deadline:
                    sys.exit("edit %d did not arrive (remote %s, B %s)" % (i, t_remote, t_b))
                if t_remote is None and read(ref) != before:
                    t_remote = now
                if t_b is None and read(zshrc_b) == text:
                    t_b = now
                time.sleep(0.002)
            to_remote.append((t_remote - t0) * 1000)
            to_b.append((t_b - t0) * 1000)
            print("  edit %2d: remote %6.0f ms, B %6.0f ms" % (i, to_remote[-1], to_b[-1]),
                  file=sys.stderr)
        checks = b.machines()["notify"]["checks"]
        return to_remote, to_b, checks
    finally:
        a.stop()
        b.stop()
        if broker:
            broker.stop()


def idle(world, dotsync, mkhome, files, seconds, relay):
    remote = os.path.join(world, "big.git")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", remote], check=True)
    broker = Mosquitto(world) if relay else None
    c = Machine(world, "idle", dotsync, {"DOTSYNC_RELAY": broker.url} if broker else {})
    shutil.rmtree(c.home)
    subprocess.run([sys.executable, mkhome, c.home, "--files", str(files), "--seed", "4"],
                   check=True, stdout=subprocess.DEVNULL)
    entries = sorted(e for e in os.listdir(c.home) if e != ".dotsync")
    n_files = sum(len(fs) for _, _, fs in os.walk(c.home))
    try:
        c.start()
        t0 = time.time()
        c.api("POST", "/v1/config", {"name": "big", "remote": remote,
                                     "paths": ["~/" + e for e in entries]})
        c.wait_synced("big")
        first_sync = time.time() - t0
        me = c.machines()["this_machine"]
        # Let the runtime's blocking threads (used by the first sync) time out and exit.
        time.sleep(15)
        s0 = proc_stat(c.proc.pid)
        t0 = time.time()
        time.sleep(seconds)
        s1 = proc_stat(c.proc.pid)
        elapsed = time.time() - t0
        st = c.status("big")
        # dotsync status against this daemon.
        status_ms = []
        for _ in range(30):
            t = time.perf_counter()
            subprocess.run([dotsync, "status"], env=c.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            status_ms.append((time.perf_counter() - t) * 1000)
        status_json_ms = []
        for _ in range(30):
            t = time.perf_counter()
            subprocess.run([dotsync, "status", "--json"], env=c.env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            status_json_ms.append((time.perf_counter() - t) * 1000)
        return {
            "files": n_files, "entries": len(entries), "first_sync_s": first_sync,
            "elapsed": elapsed, "cpu_own": s1[0] - s0[0], "cpu_children": s1[1] - s0[1],
            "rss_start": s0[2], "rss_end": s1[2], "hwm": s1[3],
            "switches": sum(n - s0[4].get(tid, 0) for tid, n in s1[4].items()),
            "threads_exited": len(set(s0[4]) - set(s1[4])),
            "watches": s1[5], "threads": s1[6], "state": st["state"], "watch": st["watch"],
            "status_ms": status_ms, "status_json_ms": status_json_ms,
            "listen": me["listen"], "relay": me["relay"],
            "relay_connected": c.machines()["this_machine"]["relay_connected"],
        }
    finally:
        c.stop()
        if broker:
            broker.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dotsync", help="the dotsync binary (default: target/release/dotsync, "
                    "built with `cargo build --release -p dotsync`)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--modes", default="direct,relay",
                    help="latency modes, comma-separated: direct, relay, poll (default: "
                    "direct,relay)")
    ap.add_argument("--no-relay-idle", action="store_true",
                    help="measure idle without the relay (no mosquitto needed)")
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--mkhome", default=os.environ.get(
        "DOTSYNC_MKHOME", os.path.join(REPO_ROOT, "bench", "mkhome.py")),
        help="path of mkhome.py (default: $DOTSYNC_MKHOME, else bench/mkhome.py)")
    ap.add_argument("--idle", type=int, default=60, help="idle seconds to measure")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.edits < 1:
        sys.exit("--edits must be at least 1")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("direct", "relay", "poll"):
            sys.exit("unknown mode %r: use direct, relay or poll" % m)
    dotsync = args.dotsync
    if not dotsync:
        dotsync = os.path.join(REPO_ROOT, "target", "release", "dotsync")
        if not args.no_build:
            print("building: cargo build --release -p dotsync", file=sys.stderr)
            if subprocess.run(["cargo", "build", "--release", "-p", "dotsync"],
                              cwd=REPO_ROOT).returncode != 0:
                sys.exit("cargo build failed; fix the build or pass --dotsync PATH")
    world = tempfile.mkdtemp(prefix="dotsync-daemon-bench-")
    write(os.path.join(world, "gitconfig"), "")
    try:
        print("dotsync daemon benchmark on %d cores, %s" % (
            os.cpu_count(), subprocess.run([dotsync, "--version"], capture_output=True,
                                           text=True).stdout.strip()))
        titles = {
            "direct": "both at the defaults (interval 60 s), direct pokes over UDP on loopback",
            "relay": "both at the defaults (interval 60 s), direct pokes off, a mosquitto relay "
                     "on loopback",
            "poll": "B checks the remote every 1 s (pokes on too)",
        }
        for mode in ([] if args.skip_latency else modes):
            print("\n## Latency (%s): %d edits of ~/.zshrc on A; %s\n"
                  % (mode, args.edits, titles[mode]))
            sys.stdout.flush()
            to_remote, to_b, checks = latency(world, dotsync, args.edits, mode)
            print("| %-40s | %8s | %8s | %8s | %8s |" % ("", "median", "p95", "min", "max"))
            print("|%s|%s|%s|%s|%s|" % ("-" * 42, "-" * 10, "-" * 10, "-" * 10, "-" * 10))
            print(row("write on A -> commit on the remote", to_remote))
            print(row("write on A -> file on B", to_b))
            print("\nRemote checks B ran because of pokes: %d" % checks)
            print("Goal: write on A -> file on B at most 1,500 ms at the median (%s) and "
                  "2,500 ms at the 95th percentile (%s)" % (
                      "met" if statistics.median(to_b) <= 1500 else "NOT met",
                      "met" if pct(to_b, 95) <= 2500 else "NOT met"))
            sys.stdout.flush()
        if not args.skip_idle:
            print("\n## Idle: %d files watched, %d s, listener for pokes%s on\n" % (
                args.files, args.idle, "" if args.no_relay_idle else " and relay"))
            r = idle(world, dotsync, args.mkhome, args.files, args.idle, not args.no_relay_idle)
            print("- files in the config: %d (%d top-level paths); first sync %.1f s" % (
                r["files"], r["entries"], r["first_sync_s"]))
            print("- inotify watches: %d; threads: %d; state %s, watch %s" % (
                r["watches"], r["threads"], r["state"], r["watch"]))
            print("- listening for pokes on %s; relay %s (%s)" % (
                r["listen"], r["relay"], "connected" if r["relay_connected"] else
                "not connected"))
            print("- resident memory: %.1f MiB at the start, %.1f MiB at the end "
                  "(peak during the first sync %.1f MiB)" % (
                      r["rss_start"] / 1024, r["rss_end"] / 1024, r["hwm"] / 1024))
            print("- CPU time over %.0f s: daemon %.2f s (%.3f%%), its git children %.2f s" % (
                r["elapsed"], r["cpu_own"], 100 * r["cpu_own"] / r["elapsed"],
                r["cpu_children"]))
            print("- context switches (wake-ups) over the period: %d (threads that exited "
                  "meanwhile: %d)" % (r["switches"], r["threads_exited"]))
            print("\n## `dotsync status` against that daemon, 30 runs\n")
            print("| %-40s | %8s | %8s | %8s | %8s |" % ("", "median", "p95", "min", "max"))
            print("|%s|%s|%s|%s|%s|" % ("-" * 42, "-" * 10, "-" * 10, "-" * 10, "-" * 10))
            print(row("dotsync status", r["status_ms"]))
            print(row("dotsync status --json", r["status_json_ms"]))
            print("\nGoals: idle CPU 0%% (%s), resident memory at most 20 MiB (%s), status well "
                  "under 50 ms (%s)" % (
                      "%.3f%%" % (100 * r["cpu_own"] / r["elapsed"]),
                      "met" if r["rss_end"] <= 20 * 1024 else "NOT met",
                      "met" if statistics.median(r["status_ms"]) < 50 else "NOT met"))
    finally:
        if args.keep:
            print("kept %s" % world, file=sys.stderr)
        else:
            shutil.rmtree(world, ignore_errors=True)


if __name__ == "__main__":
    main()
