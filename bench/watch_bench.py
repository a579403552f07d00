#!/usr/bin/env python3
"""newfilewatch beside `inotifywait -m -r`, in one run, on trees built here on tmpfs.

    python3 bench/watch_bench.py                  # everything, the issue's sizes (~5 min, 2 cores)
    python3 bench/watch_bench.py --parts setup --sizes 10000 --rounds 3
    python3 bench/watch_bench.py --quick          # small sizes, a smoke run in under a minute

Parts (medians over --rounds; the two tools run one after the other, never at once, so they
do not fight over the cores):
  setup    start -> `ready` event (newfilewatch run --foreground --events F) vs start ->
           "Watches established." (inotifywait), for each of --sizes dirs; RSS at that moment
           gives user memory per watch at the largest size (minus an empty-tree run).
  burst    --burst small files written by a C writer (Python if no cc) into 100 watched dirs,
           every 1000th a webshell: files seen, shells alerted, overflows.  The kernel queue
           stays at its default (max_queued_events): newfilewatch recovers by ctime rescan.
  reader   a queue pre-filled with 2 x --reader events (create + close_write per file; the
           queue is raised for that one inotify instance and the sysctl put back): CPU time of
           Watcher.read() (parse + process + pipeline offer) vs inotifywait's CPU draining the
           same queue (it was SIGSTOPped while the files were written).
  latency  --trickle-rate webshells/s for --trickle-seconds: write -> `alert` event, p50/p99.
  fanreader (only with --parts fanreader) the reader part for the fanotify backend: 15,000
           files written while nothing reads (fanotify's queue is a fixed 16384), then the CPU
           time of FanWatcher.read() draining it.
  scale    (only with --parts scale; run it once, it takes minutes) --scale dirs (1,000,000) on a
           tmpfs of its own: start -> `ready`, RSS at ready and the kernel memory the watcher
           added (SUnreclaim delta; named *notify* slab caches where SLUB kept them apart), for
           the fanotify backend, the inotify backend and `inotifywait -m -r`.
The burst part runs on every backend in --backends (inotify,fanotify); setup, reader and latency
measure the inotify backend (what inotifywait is compared with).
Prints: metric, newfilewatch, inotifywait, ratio, target, met?
"""
import argparse
import datetime
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (the bench dir, not a package)
from common import log, median, percentile  # noqa: E402

sys.path.insert(0, common.REPO)


class Table(object):
    def __init__(self):
        self.rows = []

    def add(self, metric, ours, theirs=None, ratio=None, target='', met=None, fmt='%.3f'):
        def show(v):
            if v is None:
                return '-'
            return fmt % v if isinstance(v, float) else str(v)
        self.rows.append((metric, show(ours), show(theirs),
                          '-' if ratio is None else '%.2fx' % ratio, target,
                          '' if met is None else ('yes' if met else 'NO')))

    def render(self):
        head = ('metric', 'newfilewatch', 'inotifywait', 'ratio', 'target', 'met?')
        rows = [head] + self.rows
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        out = []
        for n, row in enumerate(rows):
            out.append('  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(row, widths))).rstrip())
            if n == 0:
                out.append('  '.join('-' * w for w in widths))
        return '\n'.join(out)


# -- setup and memory -----------------------------------------------------------------------------
def nfw_setup(root, work, tag):
    """One start of newfilewatch on `root`: (seconds to ready, RSS at ready, watches)."""
    state = os.path.join(work, 'state-%s' % tag)
    os.mkdir(state)
    conf = common.nfw_config(os.path.join(state, 'nfw.conf'), root, state)
    events = os.path.join(state, 'events.jsonl')
    tail = common.Tail(events)
    t0 = time.monotonic()
    proc = common.start_nfw(conf, events, os.path.join(state, 'stderr'))
    try:
        ready = common.wait_ready(proc, tail)
        took = time.monotonic() - t0
        rss = common.rss_bytes(proc.pid)
    finally:
        common.stop(proc)
    return took, rss, ready.get('watches', 0)


def iw_setup(root):
    t0 = time.monotonic()
    proc = common.start_inotifywait(root)
    try:
        if not common.wait_established(proc):
            raise RuntimeError('inotifywait failed on %s' % root)
        took = time.monotonic() - t0
        rss = common.rss_bytes(proc.pid)
    finally:
        common.stop(proc)
    return took, rss


def part_setup(opts, table, work):
    sizes = sorted(opts.sizes)
    empty = os.path.join(work, 'empty')
    os.mkdir(empty)
    base_nfw, base_iw = [], []
    for r in range(opts.rounds):
        base_nfw.append(nfw_setup(empty, work, 'empty%d' % r))
        if opts.iw:
            base_iw.append(iw_setup(empty))
    t_empty = median([b[0] for b in base_nfw])
    table.add('setup: start -> ready, empty tree (s)', t_empty,
              median([b[0] for b in base_iw]) if base_iw else None)
    for size in sizes:
        top = os.path.join(work, 'tree%d' % size)
        os.mkdir(top)
        t0 = time.monotonic()
        home, _dirs = common.make_tree(top, size)
        log('setup: built %d dirs in %.1fs' % (size, time.monotonic() - t0))
        nfw, iw = [], []
        for r in range(opts.rounds):
            nfw.append(nfw_setup(home, work, '%d-%d' % (size, r)))
            if opts.iw:
                iw.append(iw_setup(home))
            log('setup %d round %d: newfilewatch %.2fs (%d watches), inotifywait %s' % (
                size, r, nfw[-1][0], nfw[-1][2], '%.2fs' % iw[-1][0] if iw else '-'))
        ours = median([x[0] for x in nfw])
        theirs = median([x[0] for x in iw]) if iw else None
        ratio = ours / theirs if theirs else None
        table.add('setup: %dk dirs, start -> ready (s)' % (size // 1000), ours, theirs, ratio,
                  '<= 0.80x', ratio is not None and ratio <= 0.8)
        watches = median([x[2] for x in nfw])
        table.add('setup: %dk dirs, per dir after start (us)' % (size // 1000),
                  (ours - t_empty) / watches * 1e6,
                  (theirs - median([b[0] for b in base_iw])) / watches * 1e6 if theirs else None,
                  fmt='%.1f')
        if size == sizes[-1]:
            per = (median([x[1] for x in nfw]) - median([b[1] for b in base_nfw])) / watches
            per_iw = ((median([x[1] for x in iw]) - median([b[1] for b in base_iw])) / watches
                      if iw else None)
            table.add('memory: RSS per watch at %dk (B)' % (size // 1000), per, per_iw,
                      per / per_iw if per_iw else None, '<= 200 B', per <= 200, fmt='%.0f')
        common.rm_rf(top)


# -- burst ----------------------------------------------------------------------------------------
def burst_tree(top, ndirs=100):
    home = os.path.join(top, 'home')
    dirs = []
    for i in range(ndirs):
        d = os.path.join(home, 'u%04d' % (i // 10), 'public_html', 'b%02d' % (i % 10))
        os.makedirs(d)
        dirs.append(d)
    return home, dirs


def nfw_burst(opts, work, writer, backend='inotify'):
    home, dirs = burst_tree(os.path.join(work, 'nfw-%s' % backend))
    state = os.path.join(work, 'state-%s' % backend)
    os.mkdir(state)
    conf = common.nfw_config(os.path.join(state, 'nfw.conf'), home, state, backend)
    events, errpath = os.path.join(state, 'events.jsonl'), os.path.join(state, 'stderr')
    tail = common.Tail(events)
    proc = common.start_nfw(conf, events, errpath)
    try:
        ready = common.wait_ready(proc, tail)
        if ready.get('backend', 'inotify') != backend:
            raise RuntimeError('asked for %s, runs %s' % (backend, ready.get('backend')))
        wrote, paths, shells = common.write_burst(dirs, opts.burst, 1000, writer, work)
        t0 = time.monotonic()
        want = set(paths)
        seen, alerted = set(), set()

        def progress():
            tail.poll()
            for rec in tail.records:
                if rec['event'] == 'new_file':
                    seen.add(rec['path'])
                elif rec['event'] == 'alert':
                    alerted.add(rec['path'])
            del tail.records[:]
            return len(seen)
        common.wait_until(lambda: progress() >= len(want) and len(alerted) >= len(shells),
                          opts.burst_timeout, interval=0.2, stall=30, progress=lambda: len(seen))
        took = time.monotonic() - t0
    finally:
        common.stop(proc)
    with open(errpath, 'rb') as fh:
        overflows = fh.read().count(b'queue overflowed')
    return dict(seen=len(seen & want), alerted=len(alerted & shells), shells=len(shells),
                overflows=overflows, wrote=wrote, took=took)


def iw_burst(opts, work, writer):
    home, dirs = burst_tree(os.path.join(work, 'iw'))
    out = os.path.join(work, 'iw.out')
    proc = common.start_inotifywait(home, out)
    try:
        if not common.wait_established(proc):
            raise RuntimeError('inotifywait failed')
        wrote, paths, shells = common.write_burst(dirs, opts.burst, 1000, writer, work)
        t0 = time.monotonic()
        size = [0]

        def grown():                       # ~ 2 lines per file: done when output stops growing
            size[0] = os.path.getsize(out) if os.path.exists(out) else 0
            return False
        common.wait_until(grown, opts.burst_timeout, interval=0.2, stall=2,
                          progress=lambda: size[0])
        took = time.monotonic() - t0
    finally:
        common.stop(proc)
    seen, overflows = set(), 0
    with open(out, 'rb') as fh:
        for line in fh:
            kind, _, path = line.rstrip(b'\n').partition(b' ')
            if b'CLOSE_WRITE' in kind:
                seen.add(path.decode('utf-8', 'surrogateescape'))
            elif b'Q_OVERFLOW' in kind:
                overflows += 1
    return dict(seen=len(seen & set(paths)), overflows=overflows, wrote=wrote, took=took)


def part_burst(opts, table, work):
    writer = common.c_writer(work)
    log('burst: %s writer' % ('C' if writer else 'Python'))
    queue = common.sysctl_get('max_queued_events')
    for backend in opts.backends:
        nfw, iw = [], []
        for r in range(opts.rounds):
            if common.sysctl_get('max_queued_events') != queue:
                log('WARNING: max_queued_events changed by another process during the burst')
            sub = os.path.join(work, 'burst-%s-%d' % (backend, r))
            os.mkdir(sub)
            nfw.append(nfw_burst(opts, sub, writer, backend))
            if opts.iw and backend == opts.backends[0]:
                iw.append(iw_burst(opts, sub, writer))
            log('burst %s round %d: newfilewatch %r; inotifywait %r' % (
                backend, r, nfw[-1], iw[-1] if iw else '-'))
            common.rm_rf(sub)
        _burst_rows(opts, table, backend, queue, nfw, iw)


def _burst_rows(opts, table, backend, queue, nfw, iw):
    n = opts.burst
    tag = 'burst %s' % backend
    seen = min(x['seen'] for x in nfw)
    seen_iw = min(x['seen'] for x in iw) if iw else None
    table.add('%s: %dk files (queue %d), fewest seen' % (tag, n // 1000, queue), seen, seen_iw,
              seen / float(seen_iw) if seen_iw else None, '%d (0 lost)' % n, seen == n)
    shells = nfw[0]['shells']
    alerted = min(x['alerted'] for x in nfw)
    table.add('%s: shells alerted, fewest' % tag, alerted, None, None, '%d' % shells,
              alerted == shells)
    table.add('%s: queue overflows (median)' % tag, median([x['overflows'] for x in nfw]),
              median([x['overflows'] for x in iw]) if iw else None, fmt='%.0f')
    table.add('%s: writer time (s)' % tag, median([x['wrote'] for x in nfw]),
              median([x['wrote'] for x in iw]) if iw else None, fmt='%.2f')
    table.add('%s: writer end -> all seen (s)' % tag, median([x['took'] for x in nfw]),
              None, fmt='%.2f')


# -- scale: a million dirs ------------------------------------------------------------------------
def _settled_kernel_memory(before, timeout=10.0):
    """Kernel memory once frees after a stop have gone through (marks go via RCU/a worker)."""
    deadline = time.monotonic() + timeout
    while True:
        now = common.kernel_memory()
        if now[0] - before[0] < 16 << 20 or time.monotonic() >= deadline:
            return now
        time.sleep(0.2)


def scale_one(label, start, wait, pid_of):
    """Start one watcher on the tree: seconds to ready, RSS, kernel memory added (bytes)."""
    before = common.kernel_memory()
    t0 = time.monotonic()
    proc = start()
    try:
        ready = wait(proc)
        took = time.monotonic() - t0
        rss = common.rss_bytes(pid_of(proc))
        after = common.kernel_memory()
    finally:
        common.stop(proc)
    _settled_kernel_memory(before)
    caches = dict((name, after[1].get(name, 0) - before[1].get(name, 0))
                  for name in set(after[1]) | set(before[1]))
    res = dict(took=took, rss=rss, kmem=after[0] - before[0],
               caches=dict((k, v) for k, v in caches.items() if v),
               ready=ready)
    log('scale %s: %r' % (label, res))
    return res


def part_scale(opts, table, work):
    """--scale dirs on a tmpfs of our own; fanotify vs inotify vs inotifywait, run ONCE."""
    n = opts.scale
    with common.private_tmpfs(work, inodes=n * 2 + 100000) as top:
        t0 = time.monotonic()
        home, _dirs = common.make_tree(top, n)
        del _dirs
        log('scale: built %d dirs in %.1fs' % (n, time.monotonic() - t0))
        results = {}
        for backend in ('fanotify', 'inotify'):
            state = os.path.join(work, 'state-%s' % backend)
            os.mkdir(state)
            conf = common.nfw_config(os.path.join(state, 'nfw.conf'), home, state, backend)
            events = os.path.join(state, 'events.jsonl')
            tail = common.Tail(events)
            results[backend] = scale_one(
                backend, lambda: common.start_nfw(conf, events, os.path.join(state, 'stderr')),
                lambda proc: common.wait_ready(proc, tail, timeout=900), lambda proc: proc.pid)
            if results[backend]['ready'].get('backend', 'inotify') != backend:
                raise RuntimeError('asked for %s, ran %s' % (backend, results[backend]['ready']))
        if opts.iw:
            results['inotifywait'] = scale_one(
                'inotifywait', lambda: common.start_inotifywait(home),
                lambda proc: common.wait_established(proc, timeout=900) or None,
                lambda proc: proc.pid)
    fan, ino, iw = results['fanotify'], results['inotify'], results.get('inotifywait')
    k = n // 1000
    table.add('scale %dk dirs: fanotify start -> ready (s)' % k, fan['took'],
              iw['took'] if iw else None, fan['took'] / iw['took'] if iw else None, '< 1 s',
              fan['took'] < 1.0)
    table.add('scale %dk dirs: inotify start -> ready (s)' % k, ino['took'],
              iw['took'] if iw else None, ino['took'] / iw['took'] if iw else None)
    table.add('scale %dk dirs: fanotify RSS (MiB)' % k, fan['rss'] / 1048576.0,
              iw['rss'] / 1048576.0 if iw else None, fmt='%.1f')
    table.add('scale %dk dirs: inotify RSS (MiB)' % k, ino['rss'] / 1048576.0,
              iw['rss'] / 1048576.0 if iw else None, fmt='%.1f')
    table.add('scale %dk dirs: fanotify kernel memory (MiB)' % k, fan['kmem'] / 1048576.0,
              iw['kmem'] / 1048576.0 if iw else None, None, '~0', fan['kmem'] < 16 << 20,
              fmt='%.1f')
    table.add('scale %dk dirs: inotify kernel memory (MiB)' % k, ino['kmem'] / 1048576.0,
              iw['kmem'] / 1048576.0 if iw else None, fmt='%.1f')
    table.add('scale %dk dirs: inotify kernel B per dir' % k, ino['kmem'] / float(n),
              iw['kmem'] / float(n) if iw else None, fmt='%.0f')
    for name, res in sorted(results.items()):
        if res['caches']:
            log('scale %s: named slab caches grown: %r' % (name, res['caches']))


# -- reader capacity ------------------------------------------------------------------------------
def write_files(directory, n):
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for i in range(n):
        fd = os.open('%s/f%06d.php' % (directory, i), flags, 0o644)
        os.write(fd, common.BENIGN)
        os.close(fd)


def reader_round(opts, work):
    from newfilewatch import config as configmod
    from newfilewatch.pipeline import Pipeline
    from newfilewatch.rules import PathRules
    from newfilewatch.watcher import Watcher
    n = opts.reader
    ours, theirs = os.path.join(work, 'nfw'), os.path.join(work, 'iw')
    os.mkdir(ours)
    os.mkdir(theirs)
    rules = PathRules.from_config(configmod.load(None))
    pipeline = Pipeline(None, rules, None)
    out = os.path.join(work, 'iw.out')
    proc = None
    with common.sysctl('max_queued_events', 2 * n + 1024):
        # the queue size is taken when the instance is made: both are made inside this block
        watcher = Watcher([ours], rules, pipeline.offer, settle_delay=3600)
        watcher.start()
        if opts.iw:
            proc = common.start_inotifywait(theirs, out)
            if not common.wait_established(proc):
                raise RuntimeError('inotifywait failed')
    try:
        if proc is not None:
            proc.send_signal(signal.SIGSTOP)
        write_files(ours, n)
        if proc is not None:
            write_files(theirs, n)
        cpu0 = time.process_time()
        events = 0
        while True:
            got = watcher.read()
            if not got:
                break
            events += got
        cpu = time.process_time() - cpu0
        if watcher.overflows or len(pipeline) != n:
            raise RuntimeError('reader: overflow or lost events (%d queued of %d)' % (
                len(pipeline), n))
        res = dict(events=events, cpu=cpu)
        if proc is not None:
            icpu0 = common.cpu_seconds(proc.pid)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGCONT)
            want = 2 * n

            def lines():
                with open(out, 'rb') as fh:
                    return fh.read().count(b'\n')
            common.wait_until(lambda: lines() >= want, 120, interval=0.05)
            res.update(iw_events=lines(), iw_cpu=common.cpu_seconds(proc.pid) - icpu0,
                       iw_wall=time.monotonic() - t0)
    finally:
        watcher.close()
        if proc is not None:
            common.stop(proc)
    return res


def part_reader(opts, table, work):
    rounds = []
    for r in range(opts.rounds):
        sub = os.path.join(work, 'reader%d' % r)
        os.mkdir(sub)
        rounds.append(reader_round(opts, sub))
        log('reader round %d: %r' % (r, rounds[-1]))
        common.rm_rf(sub)
    rate = median([x['events'] / x['cpu'] for x in rounds])
    rate_iw = median([x['iw_events'] / x['iw_cpu'] for x in rounds]) if opts.iw else None
    table.add('reader: kernel events/s per CPU s', rate, rate_iw,
              rate / rate_iw if rate_iw else None, '>= 1.00x',
              rate_iw is not None and rate >= rate_iw, fmt='%.0f')
    table.add('reader: CPU us per event', 1e6 / rate, 1e6 / rate_iw if rate_iw else None,
              fmt='%.2f')


def fanreader_round(opts, work):
    """FanWatcher.read() (parse + process + pipeline offer) over a queue filled while unread."""
    from newfilewatch import config as configmod
    from newfilewatch import fanwatch
    from newfilewatch.pipeline import Pipeline
    from newfilewatch.rules import PathRules
    n = 15000                      # below fanotify's fixed 16384-event queue: nothing overflows
    with common.private_tmpfs(work, inodes=n + 1000, size='256m') as top:
        root = os.path.join(top, 'www')
        os.mkdir(root)
        rules = PathRules.from_config(configmod.load(None))
        pipeline = Pipeline(None, rules, None)
        marks = fanwatch.prepare([root], 'fanotify')
        if marks.group is None or not marks.mounts:
            raise RuntimeError('fanotify refused: %s %r' % (marks.failure, marks.refused))
        watcher = fanwatch.FanWatcher(marks, [root], rules, pipeline.offer, settle_delay=3600)
        try:
            watcher.start()
            write_files(root, n)
            cpu0 = time.process_time()
            events = 0
            while True:
                got = watcher.read()
                if not got:
                    break
                events += got
            cpu = time.process_time() - cpu0
            if watcher.overflows or len(pipeline) != n:
                raise RuntimeError('fanreader: overflow or lost events (%d of %d)' % (
                    len(pipeline), n))
        finally:
            watcher.close()
    return dict(events=events, files=n, cpu=cpu)


def part_fanreader(opts, table, work):
    rounds = []
    for r in range(opts.rounds):
        sub = os.path.join(work, 'fanreader%d' % r)
        os.mkdir(sub)
        rounds.append(fanreader_round(opts, sub))
        log('fanreader round %d: %r' % (r, rounds[-1]))
    table.add('fanreader: kernel events/s per CPU s', median(
        [x['events'] / x['cpu'] for x in rounds]), fmt='%.0f')
    table.add('fanreader: files/s per CPU s', median(
        [x['files'] / x['cpu'] for x in rounds]), fmt='%.0f')


# -- latency --------------------------------------------------------------------------------------
def parse_iso(text):
    """'2024-01-02T03:04:05.678+01:00' -> epoch seconds (3.6 has no fromisoformat)."""
    stamp, offset = text[:23], text[23:].replace(':', '')
    dt = datetime.datetime.strptime(stamp + offset, '%Y-%m-%dT%H:%M:%S.%f%z')
    return dt.timestamp()


def part_latency(opts, table, work):
    home, dirs = burst_tree(os.path.join(work, 'lat'), 10)
    state = os.path.join(work, 'state')
    os.mkdir(state)
    conf = common.nfw_config(os.path.join(state, 'nfw.conf'), home, state)
    events = os.path.join(state, 'events.jsonl')
    tail = common.Tail(events)
    proc = common.start_nfw(conf, events, os.path.join(state, 'stderr'))
    written = {}
    try:
        common.wait_ready(proc, tail)
        n = int(opts.trickle_rate * opts.trickle_seconds)
        gap = 1.0 / opts.trickle_rate
        start = time.monotonic()
        for i in range(n):
            due = start + i * gap                  # pacing the writer, not waiting on a result
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            path = '%s/t%05d.php' % (dirs[i % len(dirs)], i)
            with open(path, 'wb') as fh:
                fh.write(common.SHELL)
            written[path] = time.time()
        common.wait_until(lambda: tail.poll() >= 0 and len(tail.kinds('alert')) >= n, 60, 0.05)
    finally:
        common.stop(proc)
    # event times are cut to whole ms: +1 ms makes each figure an upper bound, never negative
    lat = [(parse_iso(r['time']) + 0.001 - written[r['path']]) * 1000.0
           for r in tail.kinds('alert') if r['path'] in written]
    lost = len(written) - len(lat)
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    table.add('latency: write -> alert p50 at %g/s (ms)' % opts.trickle_rate, p50, None, None,
              '<= 50 ms', p50 <= 50 and not lost, fmt='%.1f')
    table.add('latency: write -> alert p99 (ms)%s' % (' %d LOST' % lost if lost else ''), p99,
              None, None, '<= 500 ms', p99 <= 500 and not lost, fmt='%.1f')


def part_detection(opts, table, work):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'detection.py')
    if not os.path.exists(script):
        log('detection: bench/detection.py not present, skipped')
        return
    log('detection: running %s' % script)
    subprocess.call([sys.executable, script])


PARTS = ('setup', 'burst', 'reader', 'latency')
EXTRA_PARTS = ('scale', 'fanreader')   # only when asked for (root: they mount a tmpfs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--parts', default=','.join(PARTS),
                   help='comma list of %s (default), %s (asked for only; and detection: '
                   'runs bench/detection.py if present)' % (', '.join(PARTS), ', '.join(EXTRA_PARTS)))
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--sizes', type=lambda s: [int(x) for x in s.split(',')],
                   default=[10000, 100000], help='dir counts for setup (default 10000,100000)')
    p.add_argument('--burst', type=int, default=100000, help='files in the burst')
    p.add_argument('--burst-timeout', type=float, default=180.0)
    p.add_argument('--reader', type=int, default=100000, help='files (2 events each)')
    p.add_argument('--trickle-rate', type=float, default=100.0)
    p.add_argument('--trickle-seconds', type=float, default=5.0)
    p.add_argument('--scale', type=int, default=1000000, help='dirs for the scale part')
    p.add_argument('--backends', type=lambda s: [x.strip() for x in s.split(',') if x.strip()],
                   default=['inotify', 'fanotify'], help='backends of the burst part')
    p.add_argument('--no-inotifywait', dest='iw', action='store_false')
    p.add_argument('--quick', action='store_true', help='small sizes: a smoke run')
    opts = p.parse_args(argv)
    if opts.quick:
        opts.sizes, opts.burst, opts.reader, opts.rounds = [2000], 5000, 5000, 1
        opts.scale = 20000
        opts.trickle_seconds = 1.0
    if opts.iw and not common.have_inotifywait():
        log('inotifywait not found (apt-get install -y inotify-tools): newfilewatch only')
        opts.iw = False
    parts = [x.strip() for x in opts.parts.split(',') if x.strip()]
    table = Table()
    t0 = time.monotonic()
    need = max(opts.sizes) * 2 + 20000 if 'setup' in parts else 0
    if 'scale' in parts:
        need = max(need, opts.scale + 20000)
    with common.scratch() as work, common.sysctl('max_user_watches', need):
        for part in parts:
            log('part %s' % part)
            pw = os.path.join(work, part)
            os.mkdir(pw)
            globals()['part_' + part](opts, table, pw)
            common.rm_rf(pw)
    print(table.render())
    print('\n%d round(s), %s, Python %s, %d CPUs, %.0fs' % (
        opts.rounds, common.scratch_base(), sys.version.split()[0], os.cpu_count(),
        time.monotonic() - t0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
