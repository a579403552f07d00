"""`newfilewatch scan`: what an admin runs first over /home, and again after an incident.

It behaves like the tools admins know (clamscan, maldet): one line per suspicious file on
stdout (`PATH: rules (score N) sha256=HEX`, the sha256 being what [scan] allow_sha256 takes),
errors on stderr, a summary on stderr at the end, exit 0 clean / 1 suspicious / 2 error
(a broken config included) / 130 interrupted (Ctrl-C: the partial summary is printed first;
130 = 128 + SIGINT is what shells report, so a script can tell "stopped" from "failed").
Clean files are listed only with --all: consumers (scripts, the detection benchmark) read every
stdout line as a finding, as they read `clamscan -i`.

Why the work is spread the way it is:
- the main process walks the tree (the same walk and exclusions as the watcher) and hands
  paths in small chunks to N worker processes forked from it, so the rule engine is built once
  and each worker has its own core (the engine is pure Python: threads would share one);
- each worker answers file by file, in order, so when one dies (a crash, the kernel's OOM
  killer) or hangs on a hostile file longer than --file-timeout, the main process knows which
  file it was: that file is reported as an error, the rest of its chunk goes to another worker,
  a new worker is forked, and nothing else is lost;
- workers ignore SIGINT: Ctrl-C reaches the main process, which stops them and reports;
- the tree's size for the ETA is counted by one more forked process, only when a progress
  line is shown at all (stderr is a terminal).
Forking needs no thread in the main process at fork time: the main process starts none.
"""
import collections
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time

from newfilewatch import formatting
from newfilewatch.escape import escape_name

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
CHUNK = 16                 # paths per message to a worker; two chunks in flight per worker
PROGRESS_EVERY = 0.25      # seconds between redraws of the progress line


def default_jobs():
    """Usable CPUs: the affinity mask (taskset, cgroups cpusets), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def add_arguments(p):
    p.add_argument('--json', action='store_true', help='one JSON object per suspicious file')
    p.add_argument('--all', action='store_true',
                   help='also list clean files (`PATH: OK`, or a JSON `clean` record)')
    p.add_argument('-i', '--infected', action='store_true',
                   help='list only suspicious files (overrides --all)')
    p.add_argument('-v', '--verbose', action='store_true',
                   help='after each suspicious file, its hits as PATH:LINE:excerpt')
    p.add_argument('-j', '--jobs', type=int, default=None, metavar='N',
                   help='worker processes (default: the usable CPUs, here %d)' % default_jobs())
    p.add_argument('--file-timeout', type=float, default=120.0, metavar='SECONDS',
                   help='a file that takes longer is reported as an error and skipped '
                        '(default 120)')
    p.add_argument('--no-summary', action='store_true', help='no summary on stderr at the end')
    p.add_argument('paths', nargs='+', metavar='PATH')


# -- pure parts: counting and the text of the summary and progress line -------------------------
class Tally(object):
    """What the summary reports; fed one Finding (or error) at a time by the main process."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.files = self.bytes = self.suspicious = self.errors = self.known_good = 0

    def add(self, finding):
        self.files += 1
        if finding.sha256:
            self.bytes += min(finding.size, self.max_bytes)
        if finding.known_good:
            self.known_good += 1
        if finding.suspicious:
            self.suspicious += 1


def _mb(n):
    return n / 1e6


def summary_lines(t, elapsed, jobs, interrupted=False):
    rate = t.files / elapsed if elapsed > 0 else 0.0
    mbps = _mb(t.bytes) / elapsed if elapsed > 0 else 0.0
    lines = ['', '----------- SCAN SUMMARY -----------']
    if interrupted:
        lines.append('Interrupted: this covers only the files scanned so far')
    lines += ['Scanned files: %d' % t.files,
              'Data scanned: %.2f MB' % _mb(t.bytes),
              'Suspicious files: %d' % t.suspicious,
              'Unreadable: %d' % t.errors,
              'Known good (skipped): %d' % t.known_good,
              'Jobs: %d' % jobs,
              'Time: %.3f sec' % elapsed,
              'Rate: %.1f files/s, %.2f MB/s' % (rate, mbps)]
    return lines


def _clock(seconds):
    seconds = int(seconds + 0.5)
    return '%d:%02d:%02d' % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def progress_line(t, elapsed, total=None):
    rate = t.files / elapsed if elapsed > 0 else 0.0
    line = '%d files, %.1f MB, %.0f files/s' % (t.files, _mb(t.bytes), rate)
    if t.suspicious:
        line += ', %d suspicious' % t.suspicious
    if total is not None:
        line += ', %d%%' % (100 * t.files // total if total else 100)
        if rate > 0 and total > t.files:
            line += ', ETA %s' % _clock((total - t.files) / rate)
    return line


# -- the shell --------------------------------------------------------------------------------
class Console(object):
    """stdout for results, stderr for errors/summary, and the progress line when a tty."""

    def __init__(self, out, err, progress):
        self.out, self.err, self.progress = out, err, progress
        self.shown = False
        self.drawn_at = 0.0

    def _clear(self):
        if self.shown:
            self.err.write('\r\x1b[K')
            self.shown = False

    def result(self, lines):
        self._clear()
        self.err.flush()
        for line in lines:
            self.out.write(line + '\n')
        self.out.flush()        # a line per file as it is found, also into a pipe

    def error(self, text):
        self._clear()
        self.err.write(text + '\n')
        self.err.flush()

    def draw(self, text, now, force=False):
        if not self.progress or (not force and now - self.drawn_at < PROGRESS_EVERY):
            return
        self.drawn_at = now
        self.err.write('\r\x1b[K' + text)
        self.err.flush()
        self.shown = True

    def done(self):
        self._clear()
        self.err.flush()


class _Worker(object):
    def __init__(self, ctx, scan_one):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, scan_one), name='nfw-scan')
        self.proc.daemon = True
        self.proc.start()
        child.close()
        self.pending = collections.deque()
        self.since = time.monotonic()

    def send(self, paths):
        """False when the worker is gone (its death is handled when its sentinel fires)."""
        try:
            self.conn.send(paths)
        except OSError:
            return False
        if not self.pending:
            self.since = time.monotonic()
        self.pending.extend(paths)
        return True

    def stop(self, force=False):
        if self.proc.is_alive():
            if force:
                os.kill(self.proc.pid, signal.SIGKILL)     # Process.kill() is 3.7+
            else:
                self.proc.terminate()
        self.proc.join(5)
        self.conn.close()


def _worker_main(conn, scan_one):
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is the main process's business
    while True:
        try:
            paths = conn.recv()
        except (EOFError, OSError):
            return
        if paths is None:
            return
        for path in paths:
            conn.send(scan_one(path))


def _count_main(conn, count):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(count())
    except Exception:             # no ETA then; the scan itself is unaffected
        pass
    conn.close()


class Pool(object):
    """N forked workers fed chunk by chunk; yields ('result', Finding) or ('error', path, why)."""

    def __init__(self, jobs, scan_one, file_timeout):
        self.ctx = multiprocessing.get_context('fork')
        self.scan_one = scan_one
        self.file_timeout = file_timeout
        self.workers = [_Worker(self.ctx, scan_one) for _ in range(jobs)]
        self.retry = collections.deque()

    def run(self, paths, extra_conns=(), on_extra=None, on_idle=None):
        paths = iter(paths)
        exhausted = False
        while True:
            for i, w in enumerate(list(self.workers)):
                while len(w.pending) < 2 * CHUNK:
                    chunk = [self.retry.popleft() for _ in range(min(CHUNK, len(self.retry)))]
                    while not exhausted and len(chunk) < CHUNK:
                        try:
                            chunk.append(next(paths))
                        except StopIteration:
                            exhausted = True
                    if not chunk:
                        break
                    if not w.send(chunk):
                        self.retry.extendleft(reversed(chunk))
                        if not w.pending:          # nothing in flight to blame: just replace it
                            w.stop(force=True)
                            self.workers[i] = _Worker(self.ctx, self.scan_one)
                        break
            busy = [w for w in self.workers if w.pending]
            if not busy and exhausted and not self.retry:
                return
            waits = [w.conn for w in busy] + [w.proc.sentinel for w in busy] + list(extra_conns)
            ready = set(multiprocessing.connection.wait(waits, timeout=PROGRESS_EVERY))
            for conn in list(extra_conns):
                if conn in ready and on_extra is not None:
                    on_extra(conn)
                    extra_conns = [c for c in extra_conns if c is not conn]
            now = time.monotonic()
            for w in busy:
                if w.conn in ready:
                    for item in self._results(w):
                        yield item
                if w.proc.sentinel in ready and not w.proc.is_alive():
                    for item in self._replace(w, 'the scanner process died (exit code %s)'
                                              % w.proc.exitcode):
                        yield item
                elif w.pending and now - w.since > self.file_timeout:
                    w.stop(force=True)
                    for item in self._replace(w, 'took longer than %gs: skipped'
                                              % self.file_timeout):
                        yield item
            if on_idle is not None:
                on_idle()

    def _results(self, w):
        try:
            while w.pending and w.conn.poll():
                result = w.conn.recv()
                w.pending.popleft()
                w.since = time.monotonic()
                yield ('result', result)
        except (EOFError, OSError):
            return                           # it died: the sentinel says so next

    def _replace(self, w, why):
        for item in self._results(w):       # what it finished before dying still counts
            yield item
        if w.pending:
            yield ('error', w.pending.popleft(), why)
            self.retry.extend(w.pending)
            w.pending.clear()
        w.stop(force=True)
        self.workers[self.workers.index(w)] = _Worker(self.ctx, self.scan_one)

    def close(self):
        for w in self.workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in self.workers:
            w.stop()


def targets(paths, rules, failed):
    """Every path to scan, as the watcher would see them; `failed(path, why)` hears of the rest."""
    from newfilewatch.walk import walk
    for arg in paths:
        if os.path.isdir(arg):                 # followed if the admin named a link; below: never
            for path, _entry in walk(os.path.normpath(arg), rules,
                                     on_error=lambda p, e: failed(p, e.strerror or e)):
                yield path
        elif os.path.lexists(arg):
            yield arg                              # named explicitly: scanned whatever its name
        else:
            failed(arg, 'No such file or directory')


def _start_counter(paths, rules):
    """A forked process counting the files for the ETA; returns (process, pipe end to read)."""
    ctx = multiprocessing.get_context('fork')
    mine, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_count_main, args=(
        child, lambda: sum(1 for _ in targets(paths, rules, lambda p, why: None))))
    proc.daemon = True
    proc.start()
    child.close()
    return proc, mine


def _lines(result, options):
    """What stdout gets for one finding (possibly nothing)."""
    if result.suspicious:
        if options.json:
            return [formatting.event('alert', result.time, result)]
        lines = [formatting.scan_result_line(result)]
        return lines + formatting.scan_hit_lines(result) if options.verbose else lines
    if options.infected or not options.all:
        return []
    return [formatting.event('clean', result.time, result) if options.json
            else formatting.scan_result_line(result)]


def _scanner(cfg, log):
    """(scan_one(path) -> Finding, temporary cache dir or None) for the workers."""
    from newfilewatch.integrity import Integrity
    from newfilewatch.rules import PathRules
    from newfilewatch.scanner import Scanner
    from newfilewatch.service import make_engine
    rules = PathRules.from_config(cfg)
    temp_cache = integrity = None
    if cfg.integrity.enabled:
        # used only if cache_dir turns out not to be writable (a scan by a normal user)
        temp_cache = tempfile.mkdtemp(prefix='nfw-checksums-')
        integrity = Integrity.from_config(cfg.integrity, cfg.scan, live=False, logger=log,
                                          fallback_dir=temp_cache)
    scanner = Scanner(make_engine(cfg.scan), cfg.scan.max_bytes, cfg.scan.allow_sha256,
                      integrity=integrity)
    now = time.time()

    def scan_one(path):
        result = scanner.scan(path, now=now)
        if result.suspicious and rules.is_allowed(path):
            result = result._replace(suspicious=False, note='path allowlisted')
        return result
    return scan_one, rules, temp_cache


def _logger():
    log = logging.getLogger('newfilewatch')
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter('newfilewatch: %(message)s'))
        log.addHandler(handler)
        log.setLevel(logging.WARNING)
        log.propagate = False
    return log


def run(options):
    """The command; returns the exit code."""
    from newfilewatch import config as configmod
    from newfilewatch.cli import apply_throttle, validated, _say_problems
    log = _logger()
    try:
        cfg = validated(options)
    except configmod.ConfigError as exc:
        _say_problems(exc)
        return EXIT_ERROR
    apply_throttle(options, cfg)              # before the fork: the workers inherit it
    jobs = options.jobs if options.jobs and options.jobs > 0 else default_jobs()
    scan_one, rules, temp_cache = _scanner(cfg, log)
    console = Console(sys.stdout, sys.stderr, progress=sys.stderr.isatty())
    tally = Tally(cfg.scan.max_bytes)
    total = [None]
    started = time.monotonic()
    counter = pool = None
    extra = []
    if console.progress:
        counter, conn = _start_counter(options.paths, rules)
        extra.append(conn)

    def failed(path, why):
        tally.errors += 1
        console.error('%s: ERROR %s' % (escape_name(path), why))

    def got_total(conn):
        try:
            total[0] = conn.recv()
        except (EOFError, OSError):
            pass

    def show():
        console.draw(progress_line(tally, time.monotonic() - started, total[0]), time.monotonic())

    interrupted = False
    try:
        pool = Pool(jobs, scan_one, options.file_timeout)
        for item in pool.run(targets(options.paths, rules, failed), extra, got_total, show):
            if item[0] == 'error':
                failed(item[1], item[2])
                continue
            result = item[1]
            if result.kind == 'gone':                  # deleted while we walked: nothing left
                continue
            if result.kind == 'file' and result.note and not result.sha256:
                failed(result.path, result.note)       # could not be read
                continue
            tally.add(result)
            lines = _lines(result, options)
            if lines:
                console.result(lines)
            show()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if pool is not None:
            if interrupted:
                for w in pool.workers:
                    w.stop()
            else:
                pool.close()
        if counter is not None:
            counter.terminate()
            counter.join(2)
        if temp_cache:
            shutil.rmtree(temp_cache, ignore_errors=True)
        console.done()
    if not options.no_summary:
        sys.stderr.write('\n'.join(summary_lines(tally, time.monotonic() - started, jobs,
                                                 interrupted)) + '\n')
        sys.stderr.flush()
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FOUND if tally.suspicious else (EXIT_ERROR if tally.errors else EXIT_CLEAN)
