#!/usr/bin/env python3
"""Detection and speed of the engine on the labelled dev corpus, next to the classic grep.

    python3 bench/detection.py [--corpus /var/tmp/nfw-corpus]

Builds the corpus with ../shared/corpus/build.py when it is missing (needs root for apt-get
download).  Scores `python3 -m newfilewatch scan` with ../shared/eval/score.py when the cli
has that command, else an in-process driver printing the same `PATH: rules` lines.
Throughput: Engine.analyse over every benign file already in memory, on this one process
(pinned to CPU 0 where os.sched_setaffinity exists); grep -E -l timed with taskset -c 0.
"""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), 'shared')
sys.path.insert(0, ROOT)

from newfilewatch.engine import Engine          # noqa: E402

CLASSIC = 'wget|curl|lynx|gcc|perl|sh|cd|mkdir|touch|base64'
KEYWORDS = CLASSIC.split('|')


def driver(paths):
    """Fallback detector: `PATH: rule, rule` for every suspicious file under paths."""
    eng = Engine(keywords=KEYWORDS)
    for root in paths:
        for dp, dn, fn in os.walk(root):
            for f in sorted(fn):
                p = os.path.join(dp, f)
                with open(p, 'rb') as fh:
                    data = fh.read(4 << 20)
                v = eng.analyse(data, p)
                if v.suspicious:
                    print('%s: %s' % (p, ', '.join(sorted({h.rule for h in v.hits}))))


def score(manifest, list_cmd):
    out = subprocess.run([sys.executable, os.path.join(SHARED, 'eval', 'score.py'),
                          '--manifest', manifest, '--list-cmd', list_cmd],
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    tpr = re.search(r'TPR\(detection\)=([\d.]+)%\s+FPR=([\d.]+)%', out)
    counts = re.search(r'TP=(\d+) FN=(\d+) FP=(\d+) TN=(\d+)', out)
    return (float(tpr.group(1)), float(tpr.group(2)), counts.group(0)) if tpr else (None, None, out)


def benign_files(corpus):
    rows = []
    with open(os.path.join(corpus, 'manifest.tsv'), encoding='utf-8', errors='surrogateescape') as fh:
        fh.readline()
        for line in fh:
            label, _, _, rel = line.rstrip('\n').split('\t')[:4]
            if label == 'benign':
                rows.append(os.path.join(corpus, 'data', rel))
    return rows


def engine_mbps(files):
    blobs = []
    for p in files:
        with open(p, 'rb') as fh:
            blobs.append((p, fh.read()))
    eng = Engine(keywords=KEYWORDS)
    total = sum(len(b) for _, b in blobs)
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        for p, b in blobs:
            eng.analyse(b, p)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return total / 1e6 / best, total


def grep_mbps(files, total):
    listing = '\0'.join(files).encode('utf-8', 'surrogateescape') + b'\0'
    cmd = ['xargs', '-0', 'grep', '-E', '-l', CLASSIC]
    if subprocess.run(['which', 'taskset'], stdout=subprocess.DEVNULL).returncode == 0:
        cmd = ['taskset', '-c', '0'] + cmd
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, input=listing, stdout=subprocess.DEVNULL)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return total / 1e6 / best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--corpus', default='/var/tmp/nfw-corpus')
    ap.add_argument('--driver', nargs='*', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.driver is not None:
        return driver(args.driver)
    manifest = os.path.join(args.corpus, 'manifest.tsv')
    if not os.path.exists(manifest):
        subprocess.run([sys.executable, os.path.join(SHARED, 'corpus', 'build.py'), args.corpus],
                       check=True)
    if hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, {0})
    cli = os.path.join(ROOT, 'newfilewatch', 'cli.py')
    has_scan = os.path.exists(cli) and "'scan'" in open(cli).read()
    list_cmd = ('cd %s && taskset -c 0 %s -m newfilewatch scan {}' % (ROOT, sys.executable) if has_scan
                else '%s %s --driver {}' % (sys.executable, os.path.abspath(__file__)))
    det, fpr, detail = score(manifest, list_cmd)
    gdet, gfpr, gdetail = score(manifest, "grep -rlE '%s' {}" % CLASSIC)
    files = benign_files(args.corpus)
    mbps, total = engine_mbps(files)
    gmbps = grep_mbps(files, total)
    print('detector: %s' % list_cmd)
    print('%-22s %10s %8s %10s' % ('', 'detected', 'FP', 'MB/s(1cpu)'))
    # -1 only when score.py gave no figure: 0.00 % is a real result, not a missing one
    print('%-22s %9.2f%% %7.2f%% %10.1f' % ('newfilewatch engine', -1 if det is None else det,
                                            -1 if fpr is None else fpr, mbps))
    print('%-22s %9.2f%% %7.2f%% %10.1f' % ('grep -E (classic)', -1 if gdet is None else gdet,
                                            -1 if gfpr is None else gfpr, gmbps))
    print('engine: %s   grep: %s   benign bytes: %.1f MB' % (detail, gdetail, total / 1e6))


if __name__ == '__main__':
    sys.exit(main())
