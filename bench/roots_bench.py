"""Glob roots on a big host (issue 15: 10,000 `/home/*/public_html` took 13.5 s to expand and
blocked the main loop ~14.6 s at every sweep).

    python bench/roots_bench.py [--roots 10000]
Prints the time of expand_roots and of a whole sweep that finds every root new, and the longest
single slice of that sweep as tick() runs it (the time the event loop is kept from reading).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from newfilewatch.rules import PathRules  # noqa: E402
from newfilewatch.watcher import Watcher, expand_roots  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--roots', type=int, default=10000)
    args = parser.parse_args()
    top = tempfile.mkdtemp(prefix='nfw-roots-')
    try:
        for i in range(args.roots):
            os.makedirs(os.path.join(top, 'home', 'u%06d' % i, 'public_html'))
        pattern = os.path.join(top, 'home', '*', 'public_html')
        started = time.perf_counter()
        roots = expand_roots([pattern])
        print('expand_roots: %d roots in %.3f s' % (len(roots), time.perf_counter() - started))
        got = []
        w = Watcher([pattern], PathRules(), got.append, sweep_interval=3600)
        try:                                       # never started: every root is new
            slices = []
            started = time.perf_counter()
            now = w.next_sweep
            while True:
                t = time.perf_counter()
                w.tick(now)
                slices.append(time.perf_counter() - t)
                now = time.time()
                if w._sweep_job is None:
                    break
            print('sweep adding %d roots: %.3f s in %d slices, longest slice %.1f ms' % (
                len(w.roots), time.perf_counter() - started, len(slices),
                1000 * max(slices)))
        finally:
            w.close()
    finally:
        subprocess.call(['rm', '-rf', top])


if __name__ == '__main__':
    main()
