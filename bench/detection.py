#!/usr/bin/env python3
"""Detection per source and engine speed beside the classic grep, on the labelled dev corpus.

    python3 bench/detection.py [--corpus /var/tmp/nfw-corpus] [--core] [--jobs N] [--no-speed]

Builds the corpus with ../shared/corpus/build.py when it is missing (needs root for apt-get
download; --core builds the small first corpus).  Scores the engine with
../shared/eval/score.py (an independent scorer: it reads `PATH: rules` lines from a driver
that runs the engine over the data directory in N processes) and prints its per-source
table, then the targets.  Speed: the engine over every benign file already in memory on one
core, and `grep -E` with the classic FSniper keywords over the same files, in the same run,
so the ratio holds whatever the machine.
"""
import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), 'shared')
sys.path.insert(0, ROOT)

from newfilewatch.detect.engine import Engine   # noqa: E402

CLASSIC = 'wget|curl|lynx|gcc|perl|sh|cd|mkdir|touch|base64'
KEYWORDS = CLASSIC.split('|')
TARGETS = {'detected': 97.0, 'fp': 0.05, 'per_source': 90.0, 'per_source_min_files': 40,
           'benign_source_fp': 0.2, 'speed_ratio': 0.2}

_ENGINE = None


def _init():
    global _ENGINE
    _ENGINE = Engine(keywords=KEYWORDS)


def _one(path):
    with open(path, 'rb') as fh:
        data = fh.read(4 << 20)
    v = _ENGINE.analyse(data, path)
    if v.suspicious:
        return '%s: %s' % (path, ', '.join(sorted({h.rule for h in v.hits})))
    return None


def driver(root, jobs):
    """`PATH: rules` for every suspicious file under root (score.py's --list-cmd input)."""
    paths = []
    for dp, dn, fn in os.walk(root):
        dn.sort()
        paths.extend(os.path.join(dp, f) for f in sorted(fn))
    with multiprocessing.Pool(jobs, initializer=_init) as pool:
        for line in pool.imap(_one, paths, chunksize=32):
            if line:
                sys.stdout.write(line + '\n')
    return 0


def score(manifest, list_cmd):
    out = subprocess.run([sys.executable, os.path.join(SHARED, 'eval', 'score.py'),
                          '--manifest', manifest, '--list-cmd', list_cmd],
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    return out


def parse(out):
    tpr = re.search(r'TPR\(detection\)=([\d.]+)%\s+FPR=([\d.]+)%', out)
    rows = re.findall(r'^\s+(malicious|benign)\s+(\S+)\s+flagged (\d+)/(\d+)', out, re.M)
    return (float(tpr.group(1)), float(tpr.group(2))) if tpr else (None, None), rows


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
            blobs.append((p, fh.read(4 << 20)))
    eng = Engine(keywords=KEYWORDS)
    total = sum(len(b) for _, b in blobs)
    t0 = time.process_time()
    for p, b in blobs:
        eng.analyse(b, p)
    return total / 1e6 / (time.process_time() - t0), total


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
    ap.add_argument('--core', action='store_true', help='build the small first corpus if missing')
    ap.add_argument('--jobs', type=int, default=len(os.sched_getaffinity(0))
                    if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1))
    ap.add_argument('--no-speed', action='store_true')
    ap.add_argument('--driver', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.driver is not None:
        return driver(args.driver, args.jobs)
    manifest = os.path.join(args.corpus, 'manifest.tsv')
    if not os.path.exists(manifest):
        subprocess.run([sys.executable, os.path.join(SHARED, 'corpus', 'build.py'), args.corpus] +
                       (['--core'] if args.core else []), check=True)
    list_cmd = '%s %s --jobs %d --driver {}' % (sys.executable, os.path.abspath(__file__), args.jobs)
    t0 = time.time()
    out = score(manifest, list_cmd)
    wall = time.time() - t0
    (det, fpr), rows = parse(out)
    gout = score(manifest, "grep -rlE '%s' {}" % CLASSIC)
    (gdet, gfpr), _ = parse(gout)

    print('per source (newfilewatch engine, scored by ../shared/eval/score.py, %.0f s on %d cores):'
          % (wall, args.jobs))
    print('  %-9s %-44s %7s %9s  %s' % ('label', 'source', 'files', 'flagged', 'target'))
    short = []
    for label, src, hit, n in rows:
        hit, n = int(hit), int(n)
        pct = 100.0 * hit / n
        if label == 'malicious':
            need = TARGETS['per_source'] if n >= TARGETS['per_source_min_files'] else None
            ok = need is None or pct >= need
            tgt = ('>= %.0f%%' % need) if need else '-'
        else:
            ok = pct <= TARGETS['benign_source_fp']
            tgt = '<= %.1f%%' % TARGETS['benign_source_fp']
        if not ok:
            short.append(src)
        print('  %-9s %-44s %7d %8.2f%%  %s%s' % (label, src[:44], n, pct, tgt, '' if ok else '  SHORT'))
    print()
    print('%-26s %10s %8s' % ('', 'detected', 'FP'))
    print('%-26s %9.2f%% %7.3f%%' % ('newfilewatch engine', det if det is not None else -1,
                                     fpr if fpr is not None else -1))
    print('%-26s %9.2f%% %7.3f%%' % ('grep -E (classic)', gdet if gdet is not None else -1,
                                     gfpr if gfpr is not None else -1))
    print('%-26s %9.2f%% %7.3f%%' % ('target', TARGETS['detected'], TARGETS['fp']))
    if short:
        print('sources short of their target: %s' % ', '.join(short))
    if not args.no_speed:
        if hasattr(os, 'sched_setaffinity'):
            os.sched_setaffinity(0, {0})
        files = benign_files(args.corpus)
        mbps, total = engine_mbps(files)
        gmbps = grep_mbps(files, total)
        print()
        print('speed on the benign side (%.1f MB, one core, same run):' % (total / 1e6))
        print('  engine %.1f MB/s   grep -E %.1f MB/s   ratio %.3f (target >= %.2f)'
              % (mbps, gmbps, mbps / gmbps, TARGETS['speed_ratio']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
