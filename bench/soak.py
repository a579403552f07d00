#!/usr/bin/env python3
"""Memory over a million events: the daemon's RSS must stay flat (no per-event leak).

    python3 bench/soak.py [--events 1000000] [--files 2000]

Starts `newfilewatch run --foreground` on a tmpfs tree (the way users start it), then rewrites
--files PHP files round after round until about --events inotify events were generated (each
write makes IN_CREATE/IN_CLOSE_WRITE or IN_CLOSE_WRITE pairs; every 50th file is a webshell so
the alert path runs too).  Samples VmRSS from /proc/PID/status after each tenth of the work and
prints the samples, the growth over the second half (where a leak shows), and whether every
file's last write was seen.  Bounded: stops after --max-seconds whatever happened.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHELL = b'<?php @system($_REQUEST["c"]); /* %d */\n'
BENIGN = b'<?php echo "hello %d";\n'


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as fh:
        for line in fh:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def tmpfs_dir():
    base = '/dev/shm' if os.path.isdir('/dev/shm') else None
    return tempfile.mkdtemp(prefix='nfw-soak-', dir=base)


def count_lines(path):
    try:
        with open(path, 'rb') as fh:
            return sum(1 for _ in fh)
    except OSError:
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--events', type=int, default=1000000, help='inotify events to generate')
    ap.add_argument('--files', type=int, default=2000, help='distinct files rewritten')
    ap.add_argument('--max-seconds', type=float, default=300)
    args = ap.parse_args()

    top = tmpfs_dir()
    www = os.path.join(top, 'www')
    os.makedirs(os.path.join(www, 'sub'))
    conf = os.path.join(top, 'soak.conf')
    with open(conf, 'w') as fh:
        fh.write('[watch]\nstate_file = %s/state.json\n[log]\nnew_files_log = %s/newfiles.log\n'
                 'log_file = %s/nfw.log\nsyslog = False\nlevel = warning\n[mail]\n'
                 'spool_dir = %s/spool\n' % (top, top, top, top))
    events = os.path.join(top, 'events.jsonl')
    proc = subprocess.Popen(
        [sys.executable, '-m', 'newfilewatch', 'run', '--foreground', '--config', conf,
         '--watch', www, '--events', events], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(top, 'stderr'), 'wb'))
    deadline = time.time() + args.max_seconds
    try:
        while time.time() < deadline:
            try:
                with open(events) as fh:
                    if '"ready"' in fh.readline():
                        break
            except OSError:
                pass
            time.sleep(0.05)
        per_round = 2 * args.files                    # open+close of an existing file: MODIFY is
        rounds = max(1, args.events // per_round)     # not watched; CLOSE_WRITE + (first) CREATE
        samples, started = [], time.time()
        names = [os.path.join(www, 'sub' if i % 2 else '', 'f%05d.php' % i)
                 for i in range(args.files)]
        for r in range(rounds):
            if time.time() > deadline:
                break
            for i, name in enumerate(names):
                with open(name, 'wb') as fh:
                    fh.write((SHELL if i % 50 == 0 else BENIGN) % r)
                with open(name, 'ab') as fh:          # a second close: a second event
                    fh.write(b'\n')
            if r % max(1, rounds // 10) == 0 or r == rounds - 1:
                samples.append(((r + 1) * per_round, rss_kib(proc.pid)))
        generated = samples[-1][0] if samples else 0
        # caught up: the event stream has stopped growing for a second
        last, still = -1, 0.0
        while time.time() < deadline and still < 1.0:
            size = os.path.getsize(events)
            still = still + 0.1 if size == last else 0.0
            last = size
            time.sleep(0.1)
        elapsed = time.time() - started
        lines = count_lines(events)
        final_rss = rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    print('events generated   %d in %.1f s (%d rounds over %d files)' % (
        generated, elapsed, rounds, args.files))
    print('event-stream lines %d' % lines)
    print('RSS samples (events -> KiB): ' + ', '.join('%d->%d' % s for s in samples))
    half = samples[len(samples) // 2][1] if samples else 0
    print('RSS first sample %d KiB, middle %d KiB, end %d KiB; growth over 2nd half %+d KiB' % (
        samples[0][1] if samples else 0, half, final_rss, final_rss - half))
    subprocess.call(['rm', '-rf', top])


if __name__ == '__main__':
    main()
