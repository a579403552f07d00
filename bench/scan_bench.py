#!/usr/bin/env python3
"""`newfilewatch scan -j 1` beside `-j 2` on the same generated tree, in one run.

    python3 bench/scan_bench.py                      # 6000 files (~35 MB), 3 rounds, ~1 min
    python3 bench/scan_bench.py --files 20000 --rounds 1 --jobs 1 2 4

The tree (on tmpfs when there is one) is application-like PHP, JavaScript and text of 0.5-24 KB
written from a fixed seed, with one webshell in 200 files, so both runs read the same bytes
and must find the same files.  Each round runs every -j once, one after the other (never at
the same time), the page cache warm; the figures are medians over the rounds.  Files/s and
MB/s come from the scan's own summary (walk + read + analysis, without interpreter start-up);
the wall time includes start-up; CPU s is user+sys of scan and its workers.  Prints: jobs,
files/s, MB/s, wall s, CPU s, speed-up over -j 1, and the load average (a busy machine leaves
-j 2 less than two cores).
"""
import argparse
import os
import random
import re
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (the bench dir, not a package)
from common import log, median  # noqa: E402

WORDS = ('user', 'post', 'item', 'cache', 'config', 'value', 'result', 'query', 'name', 'page',
         'request', 'option', 'title', 'content', 'widget', 'render', 'filter', 'meta')


def php_file(rnd, size):
    """Plausible application code: a class with methods, arrays, strings, comments."""
    parts = ['<?php\n/**\n * %s %s handling.\n */\nclass %s_%s {\n' % (
        rnd.choice(WORDS).title(), rnd.choice(WORDS), rnd.choice(WORDS).title(),
        rnd.choice(WORDS).title())]
    n = 0
    while sum(len(p) for p in parts) < size:
        n += 1
        a, b, c = rnd.choice(WORDS), rnd.choice(WORDS), rnd.choice(WORDS)
        parts.append(
            '    /** Return the %s for a %s. */\n'
            '    public function get_%s_%d($%s, $args = array()) {\n'
            '        $%s = isset($args[\'%s\']) ? $args[\'%s\'] : \'%s\';\n'
            '        if (empty($%s)) {\n            return apply_filters(\'%s_%s\', null);\n'
            '        }\n        $out = array();\n'
            '        foreach ((array) $%s as $k => $v) {\n'
            '            $out[] = sprintf(\'%%s=%%s\', esc_attr($k), esc_html($v));\n'
            '        }\n        return implode(\', \', $out);\n    }\n\n'
            % (a, b, a, n, b, c, c, c, a, c, a, b, c))
    parts.append('}\n')
    return ''.join(parts).encode()


def js_file(rnd, size):
    out = ['(function ($) {\n']
    while sum(len(p) for p in out) < size:
        a, b = rnd.choice(WORDS), rnd.choice(WORDS)
        out.append('  $(".%s-%s").on("click", function (e) { e.preventDefault(); '
                   '$(this).toggleClass("%s"); });\n' % (a, b, a))
    out.append('})(jQuery);\n')
    return ''.join(out).encode()


def make_tree(top, nfiles, seed=13):
    rnd = random.Random(seed)
    total = 0
    for i in range(nfiles):
        d = os.path.join(top, 'site%02d' % (i % 20), 'dir%03d' % (i // 50))
        if not os.path.isdir(d):
            os.makedirs(d)
        size = int(rnd.lognormvariate(8.3, 0.8)) % 24000 + 500
        if i % 200 == 199:
            name, data = 'cache-%d.php' % i, common.SHELL
        elif i % 5 == 0:
            name, data = 'script-%d.js' % i, js_file(rnd, size)
        elif i % 11 == 0:
            name, data = 'notes-%d.txt' % i, ' '.join(rnd.choice(WORDS) for _ in range(size // 6)
                                                       ).encode()
        else:
            name, data = 'class-%d.php' % i, php_file(rnd, size)
        with open(os.path.join(d, name), 'wb') as fh:
            fh.write(data)
        total += len(data)
    return total


RATE = re.compile(r'^Rate: ([\d.]+) files/s, ([\d.]+) MB/s$', re.M)


def run_scan(tree, conf, jobs):
    cmd = [sys.executable, '-m', 'newfilewatch', 'scan', '--config', conf, '-j', str(jobs), tree]
    env = dict(os.environ, PYTHONPATH=common.REPO)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)   # the workers are reaped by scan
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = RATE.search(res.stderr)
    if res.returncode not in (0, 1) or not m:
        raise SystemExit('scan -j %d failed (%d): %s' % (jobs, res.returncode, res.stderr[-2000:]))
    return float(m.group(1)), float(m.group(2)), wall, cpu, sorted(res.stdout.splitlines())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--files', type=int, default=6000)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--jobs', type=int, nargs='+', default=[1, 2])
    args = ap.parse_args(argv)
    with common.scratch('nfwscan-') as base:
        tree = os.path.join(base, 'tree')
        log('writing %d files under %s' % (args.files, tree))
        total = make_tree(tree, args.files)
        conf = os.path.join(base, 'bench.conf')
        with open(conf, 'w') as fh:
            fh.write('[integrity]\nenabled = no\ncache_dir = %s\n' % os.path.join(base, 'c'))
        load_before = os.getloadavg()[0]      # other work on the machine takes cores too
        run_scan(tree, conf, 1)                            # warm the page cache
        figures = {j: [] for j in args.jobs}
        lines = {}
        for r in range(args.rounds):
            for jobs in args.jobs:
                files_s, mb_s, wall, cpu, out = run_scan(tree, conf, jobs)
                figures[jobs].append((files_s, mb_s, wall, cpu))
                lines.setdefault(jobs, out)
                log('round %d -j %d: %.0f files/s, %.2f MB/s, %.2f s' % (r + 1, jobs, files_s,
                                                                         mb_s, wall))
        same = all(lines[j] == lines[args.jobs[0]] for j in args.jobs)
        print('tree: %d files, %.1f MB; usable CPUs: %d; Python %s; medians of %d rounds; '
              'load average before/after: %.2f / %.2f' % (
                  args.files, total / 1e6, len(os.sched_getaffinity(0)),
                  sys.version.split()[0], args.rounds, load_before, os.getloadavg()[0]))
        print('%-6s %10s %8s %8s %8s %9s' % ('jobs', 'files/s', 'MB/s', 'wall s', 'CPU s',
                                            'speed-up'))
        base_rate = median([f[0] for f in figures[args.jobs[0]]])
        for jobs in args.jobs:
            rate = median([f[0] for f in figures[jobs]])
            print('%-6s %10.0f %8.2f %8.2f %8.2f %8.2fx' % (
                '-j %d' % jobs, rate, median([f[1] for f in figures[jobs]]),
                median([f[2] for f in figures[jobs]]), median([f[3] for f in figures[jobs]]),
                rate / base_rate if base_rate else 0))
        print('same findings for every -j: %s (%d suspicious)' % ('yes' if same else 'NO',
                                                                   len(lines[args.jobs[0]])))
        return 0 if same else 1


if __name__ == '__main__':
    sys.exit(main())
