"""`[hooks] command`: the admin's program, run once per alert with the alert on stdin.

Why it looks like this:
- The command line is the admin's config, split with shlex and exec'd directly: no shell, and
  nothing derived from a file name or content ever becomes an argument.  The alert reaches the
  program only as one JSON object on stdin (the very object of the `alert` event).
- Hooks run in a bounded pool of worker threads fed by a bounded queue, never in the main loop:
  a hook that hangs, spews output or fails cannot hold up watching.  When the queue is full the
  alert is not run through the hook (said in the log, counted); mail and events still have it.
- Each run gets its own session (process group); on timeout the whole group is killed, so a
  hook's own children (a `curl` it started) do not outlive it.
- Only the first bytes of output are kept (and the first lines logged): a hook printing
  gigabytes costs the daemon a few KiB.
- The hook runs as the daemon's user; execve() drops the daemon's CAP_DAC_READ_SEARCH (no file
  capabilities, no ambient set), so the program gets no privilege from us.
subprocess.communicate() would keep all output in memory, so the I/O loop is written here with
the selectors module (as communicate does inside).
"""
import collections
import logging
import os
import queue
import selectors
import shlex
import signal
import subprocess
import threading
import time

from newfilewatch.escape import escape_name

OUTPUT_KEEP = 8192        # bytes of a hook's output kept
OUTPUT_LINES = 5          # lines of it logged / put in the `hook` event
EXIT_GRACE = 0.5          # seconds to wait for the pipe to close after the hook exited

# status: 'ok' | 'failed' (exit code not 0 or killed by a signal) | 'timeout' | 'cannot run'
HookResult = collections.namedtuple('HookResult', 'status code output seconds')


def parse_command(text):
    """argv of `[hooks] command`; ValueError with the reason when it is unusable."""
    argv = shlex.split(text)
    if not argv:
        raise ValueError('empty command')
    if not os.path.isabs(argv[0]):
        raise ValueError('%r is not an absolute path (the daemon has no useful PATH)' % argv[0])
    return argv


def first_lines(data, lines=OUTPUT_LINES, width=200):
    """The first `lines` non-empty lines of output, each cut to `width`; pure."""
    text = data.decode('utf-8', 'replace')
    out = [l.rstrip()[:width] for l in text.splitlines() if l.strip()]
    return out[:lines]


def run_hook(argv, data, timeout, keep=OUTPUT_KEEP, started=None):
    """Run argv with `data` on stdin; at most `timeout` seconds, then its process group is killed.

    `started(proc)` is called once the process exists (the runner tracks it to kill it on stop).
    """
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, close_fds=True, cwd='/',
                                start_new_session=True)
    except OSError as exc:
        return HookResult('cannot run', None, (exc.strerror or str(exc)).encode(), 0.0)
    if started is not None:
        started(proc)
    deadline = t0 + timeout
    kept = bytearray()
    pending = memoryview(data)
    exited_at = None
    timed_out = False
    with selectors.DefaultSelector() as sel:
        os.set_blocking(proc.stdout.fileno(), False)
        sel.register(proc.stdout, selectors.EVENT_READ)
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > EXIT_GRACE:
                break               # it exited; a child it left behind still holds the pipe
            for key, _ in sel.select(min(deadline - now, 0.1)):
                if key.fileobj is proc.stdin:
                    try:
                        written = os.write(proc.stdin.fileno(), pending[:65536])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:            # it does not read stdin: its business
                        written = len(pending)
                    pending = pending[written:]
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                else:
                    try:
                        chunk = os.read(proc.stdout.fileno(), 65536)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        sel.unregister(proc.stdout)
                    elif len(kept) < keep:
                        kept += chunk[:keep - len(kept)]
    if timed_out:
        _kill_group(proc)
    else:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
    for fh in (proc.stdin, proc.stdout):
        try:
            fh.close()
        except OSError:
            pass
    seconds = time.monotonic() - t0
    if timed_out:
        return HookResult('timeout', proc.returncode, bytes(kept), seconds)
    return HookResult('ok' if proc.returncode == 0 else 'failed', proc.returncode, bytes(kept),
                      seconds)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)       # its own session: pgid == pid
    except OSError:
        pass
    proc.wait()


def describe(result, timeout):
    """The words for a log line: 'exit 0', 'exit 3', 'killed by signal 9', 'timed out after 5 s'."""
    if result.status == 'timeout':
        return 'timed out after %g s (process group killed)' % timeout
    if result.status == 'cannot run':
        return 'cannot run: %s' % result.output.decode('utf-8', 'replace')
    if result.code is not None and result.code < 0:
        return 'killed by signal %d' % -result.code
    return 'exit %s' % result.code


class HookRunner(object):
    """A bounded pool running `argv` once per submitted alert; see the module docstring.

    `on_done(runner, path, result, words, lines)` is called from a worker thread after each run (the service writes a
    `hook` event from it).
    """

    def __init__(self, argv, timeout=60.0, max_running=4, max_queued=1000, logger=None,
                 on_done=None, name='hook', only=None):
        self.argv = list(argv)
        self.name = name
        self.only = only
        self.timeout = timeout
        self.max_running = max(1, int(max_running))
        self.log = logger or logging.getLogger('newfilewatch.hooks')
        self.on_done = on_done
        self._queue = queue.Queue(maxsize=max(1, int(max_queued)))
        self._threads = []
        self._running = set()
        self._lock = threading.Lock()
        self._stopping = False
        self.counts = collections.Counter()

    def start(self):
        for n in range(self.max_running):
            thread = threading.Thread(target=self._work, name='newfilewatch-hook-%d' % n)
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        return self

    def wants(self, finding):
        """Whether this runner is for `finding` (auto-quarantine: critical alerts only)."""
        return self.only is None or self.only(finding)

    def submit(self, data, path):
        """Queue one run; never blocks.  False when the queue is full (logged, counted)."""
        if self._stopping:
            return False
        try:
            self._queue.put_nowait((data if isinstance(data, bytes) else data.encode('utf-8'), path))
        except queue.Full:
            self.counts['dropped'] += 1
            if self.counts['dropped'] == 1 or self.counts['dropped'] % 100 == 0:
                self.log.error('%s %s: %d alert(s) waiting already; not running it for this one '
                               '(%d skipped so far)', self.name, self.argv[0], self._queue.qsize(),
                               self.counts['dropped'])
            return False
        return True

    def close(self, timeout=5.0):
        """Stop taking alerts, give running hooks `timeout` seconds, then kill their groups."""
        self._stopping = True
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break
        end = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(end - time.monotonic(), 0.0))
        with self._lock:
            left = list(self._running)
        for proc in left:
            self.log.warning('hook %s (pid %d) still running at stop: killing its process group',
                             self.argv[0], proc.pid)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

    def _work(self):
        while True:
            item = self._queue.get()
            if item is None or self._stopping:
                return
            data, path = item
            try:
                self._run_one(data, path)
            except Exception:               # a bug must not kill the pool
                self.log.exception('hook %s: unexpected error', self.argv[0])

    def _run_one(self, data, path):
        def track(proc):
            with self._lock:
                self._running.add(proc)
        result = None
        try:
            result = run_hook(self.argv, data, self.timeout, started=track)
        finally:
            with self._lock:
                self._running = set(p for p in self._running if p.returncode is None)
        self.counts[result.status] += 1
        lines = [escape_name(l) for l in first_lines(result.output)]
        words = describe(result, self.timeout)
        if result.status == 'ok':
            self.log.info('%s %s for %s: %s in %.1f s%s', self.name, self.argv[0], escape_name(path), words,
                          result.seconds, ': ' + ' | '.join(lines) if lines else '')
        else:
            self.log.warning('%s %s for %s: %s%s', self.name, self.argv[0], escape_name(path), words,
                             ': ' + ' | '.join(lines) if lines else '')
        if self.on_done is not None:
            self.on_done(self, path, result, words, lines)
