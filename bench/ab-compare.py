#!/usr/bin/env python3
"""Compare dotsync binaries on one pair of machines, run by run (before/after a change).

    bench/ab-compare.py --bin before=/tmp/old/dotsync --bin after=target/release/dotsync
    bench/ab-compare.py --bin a=BIN1 --bin b=BIN2 --files 10000 --nochange 25 --edits 10

A whole benchmark run of each binary (sync-bench.py) moves with the machine's load between the
two runs; this one alternates the binaries on the same homes, so both see the same load:

  setup         two machines A and B (own HOME and DOTSYNC_HOME) on one bare remote, A's home
                made by mkhome.py (--files N --seed 1), A's first push and B's first pull with
                the first binary, then one untimed sync each (steady state)
  nothing       per round, each binary's `dotsync sync NAME --json` on A with nothing changed,
                then `git status --porcelain` on a clean work tree of the same files
  1 edit        per round and binary: `mkhome.py mutate --count 1` on A, A's sync, B's sync

Both binaries must read the same state (a binary of another state schema is refused by
dotsync itself). Medians and minimums, ms. Everything lives under a temporary directory
(removed at the end); no daemon, nothing listens, the real home is never touched.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "bench"


def run(cmd, env, cwd=None, check=True):
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr.decode(errors="replace")))
    return p


def base_env():
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "TMPDIR", "TERM") if k in os.environ}
    keep.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return keep


def timed(cmd, env, cwd=None):
    t = time.perf_counter()
    p = run(cmd, env, cwd)
    return (time.perf_counter() - t) * 1000, p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True, metavar="LABEL=PATH",
                    help="a binary to compare (twice or more)")
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--nochange", type=int, default=25, help="rounds of nothing changed")
    ap.add_argument("--edits", type=int, default=10, help="rounds of 1 edit A->B")
    ap.add_argument("--mkhome", default=os.environ.get(
        "DOTSYNC_MKHOME", os.path.join(HERE, "mkhome.py")))
    args = ap.parse_args()
    bins = []
    for b in args.bin:
        label, sep, path = b.partition("=")
        if not sep or not os.path.isfile(path):
            sys.exit("--bin wants LABEL=PATH of an existing binary, not %r" % b)
        bins.append((label, os.path.abspath(path)))
    if len(bins) < 2:
        sys.exit("give at least two binaries to compare (--bin LABEL=PATH twice)")
    if not os.path.isfile(args.mkhome):
        sys.exit("mkhome.py not found at %s (--mkhome PATH or $DOTSYNC_MKHOME)" % args.mkhome)

    root = tempfile.mkdtemp(prefix="dotsync-ab-")
    try:
        compare(args, bins, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def compare(args, bins, root):
    gitconfig = os.path.join(root, "gitconfig")
    with open(gitconfig, "w") as f:
        f.write("[user]\n\tname = bench\n\temail = bench@localhost\n[init]\n\tdefaultBranch = main\n")
    genv = base_env()
    genv.update({"HOME": os.path.join(root, "git-home"), "GIT_CONFIG_GLOBAL": gitconfig,
                 "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"})
    remote = os.path.join(root, "remote.git")
    run(["git", "init", "-q", "--bare", "-b", "main", remote], genv)

    def machine(name):
        home = os.path.join(root, name, "home")
        os.makedirs(home)
        env = dict(genv)
        env.update({"HOME": home, "DOTSYNC_HOME": os.path.join(root, name, "dotsync"),
                    "DOTSYNC_MACHINE": "ab-" + name, "NO_COLOR": "1",
                    "DOTSYNC_NOTIFY_ADDR": "127.0.0.1:0"})
        return home, env

    a_home, a_env = machine("a")
    b_home, b_env = machine("b")
    run([sys.executable, args.mkhome, "--files", str(args.files), "--seed", "1", a_home], base_env())
    paths = sorted("~/" + n for n in os.listdir(a_home))
    first = bins[0][1]
    for env in (a_env, b_env):
        run([first, "config", "add", NAME, "--remote", remote, "--auto", "false"] + paths, env)
    sync = lambda b, env: timed([b, "sync", NAME, "--json"], env)
    sync(first, a_env)
    sync(first, b_env)
    # Past git's racy window, so the stat caches hold every file.
    time.sleep(2.1)
    for env in (a_env, b_env):
        sync(first, env)
    work = os.path.join(root, "work")
    run(["git", "clone", "-q", remote, work], genv)

    print("%d files; binaries alternate run by run; medians (min) in ms" % args.files)
    nothing = {label: [] for label, _ in bins}
    status = []
    for _ in range(args.nochange):
        for label, b in bins:
            nothing[label].append(sync(b, a_env)[0])
        status.append(timed(["git", "status", "--porcelain"], genv, cwd=work)[0])
    for label, _ in bins:
        v = nothing[label]
        print("  nothing changed, CLI  %-10s %7.1f (%.1f)" % (label, statistics.median(v), min(v)))
    print("  git status --porcelain        %7.1f (%.1f)" % (statistics.median(status), min(status)))

    edits = {label: ([], []) for label, _ in bins}
    seed = 1000
    for _ in range(args.edits):
        for label, b in bins:
            seed += 1
            run([sys.executable, args.mkhome, "mutate", "--count", "1", "--seed", str(seed), a_home],
                base_env())
            ta, pa = sync(b, a_env)
            tb, pb = sync(b, b_env)
            for p in (pa, pb):
                last = json.loads(p.stdout.decode().strip().splitlines()[-1])
                if not last.get("ok"):
                    sys.exit("a sync failed: %s" % last)
            edits[label][0].append(ta)
            edits[label][1].append(tb)
    for label, _ in bins:
        a, b = edits[label]
        both = [x + y for x, y in zip(a, b)]
        print("  1 edit A->B           %-10s %7.1f (%.1f)  A %.1f  B %.1f"
              % (label, statistics.median(both), min(both), statistics.median(a), statistics.median(b)))


if __name__ == "__main__":
    main()
