#!/usr/bin/env python3
"""Time the first sync of a home, A's push and B's pull, with binaries alternated run by run.

    bench/first-sync.py --bin before=/tmp/old/dotsync --bin after=target/release/dotsync
    bench/first-sync.py --bin a=BIN1 --bin b=BIN2 --files 10000 --reps 4

Each run makes a fresh pair of machines (own HOME and DOTSYNC_HOME) on a fresh bare remote, so
binaries of different state schemas compare fine (unlike ab-compare.py, which shares state):
A's home is a copy of one mkhome.py tree (--files N --seed 1), A pushes it all, then B, with an
empty home, pulls it all. Medians and minimums, ms. Everything lives under a temporary
directory (removed after each run; --tmp chooses where, /dev/shm by default when it exists);
no daemon, nothing listens, the real home is never touched.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "bench"


def base_env():
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "TERM") if k in os.environ}
    keep.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return keep


def run(cmd, env, quiet=True):
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL if quiet else None,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr.decode(errors="replace")))


def one_run(binary, template, tmp):
    root = tempfile.mkdtemp(prefix="first-sync-", dir=tmp)
    try:
        gitconfig = os.path.join(root, "gitconfig")
        with open(gitconfig, "w") as f:
            f.write("[user]\n\tname = bench\n\temail = bench@example.com\n")
        remote = os.path.join(root, "remote.git")
        env = base_env()
        env.update({"GIT_CONFIG_GLOBAL": gitconfig, "GIT_CONFIG_NOSYSTEM": "1"})
        run(["git", "init", "-q", "--bare", "-b", "main", remote], env)

        def machine(name):
            e = dict(env)
            e.update({
                "HOME": os.path.join(root, name, "home"),
                "DOTSYNC_HOME": os.path.join(root, name, "dotsync"),
                "DOTSYNC_MACHINE": "bench-" + name,
                # Pokes between machines stay on loopback.
                "DOTSYNC_NOTIFY_ADDR": "127.0.0.1:0",
                "NO_COLOR": "1",
            })
            os.makedirs(e["DOTSYNC_HOME"])
            return e

        a, b = machine("a"), machine("b")
        shutil.copytree(template, a["HOME"], symlinks=True)
        os.makedirs(b["HOME"])
        paths = sorted("~/" + n for n in os.listdir(a["HOME"]))
        for e in (a, b):
            run([binary, "config", "add", NAME, "--remote", remote, "--auto", "false"] + paths, e)
        times = {}
        for step, e in (("push (A)", a), ("pull (B)", b)):
            t = time.perf_counter()
            run([binary, "sync", NAME, "--json"], e)
            times[step] = (time.perf_counter() - t) * 1000
        return times
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True, metavar="LABEL=PATH",
                    help="a binary to time (once or more)")
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=4, help="runs of each binary")
    ap.add_argument("--mkhome", default=os.environ.get(
        "DOTSYNC_MKHOME", os.path.join(HERE, "mkhome.py")))
    ap.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = ap.parse_args()
    bins = []
    for spec in args.bin:
        label, sep, path = spec.partition("=")
        if not sep or not os.access(path, os.X_OK):
            sys.exit("--bin wants LABEL=PATH of an executable, got %r" % spec)
        bins.append((label, os.path.abspath(path)))
    if not os.path.isfile(args.mkhome):
        sys.exit("mkhome.py not found at %s (--mkhome or DOTSYNC_MKHOME)" % args.mkhome)

    work = tempfile.mkdtemp(prefix="first-sync-tree-", dir=args.tmp)
    try:
        template = os.path.join(work, "home")
        run([sys.executable, args.mkhome, "--files", str(args.files), "--seed", "1", template],
            base_env())
        samples = {}
        for _ in range(args.reps):
            for label, path in bins:
                for step, ms in one_run(path, template, args.tmp).items():
                    samples.setdefault((label, step), []).append(ms)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("first sync, %d files, %d runs each, binaries alternated; ms" % (args.files, args.reps))
    print("%-12s %-10s %10s %10s  runs" % ("binary", "step", "median", "min"))
    for label, _ in bins:
        total = []
        for step in ("push (A)", "pull (B)"):
            v = samples[(label, step)]
            total.append(statistics.median(v))
            print("%-12s %-10s %10.0f %10.0f  %s" % (
                label, step, statistics.median(v), min(v), " ".join("%.0f" % x for x in v)))
        print("%-12s %-10s %10.0f" % (label, "A -> B", sum(total)))


if __name__ == "__main__":
    main()
