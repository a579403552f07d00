"""Fetch WordPress.org checksum lists and keep them on disk: the thin I/O shell of integrity.

Why it is built this way:
- the watcher's event loop must never wait for the network, so `get(..., wait=False)` only
  looks at memory and disk and leaves the fetch to one background thread; the file in hand is
  then judged by the rules as if there were no list;
- `scan -j N` runs N processes that meet the same install at the same time: a lock file per list
  (flock) makes one of them fetch while the others wait and then read its cache file;
- offline, slow, 404, malformed: nothing breaks, the problem is logged once per list, a failure
  marker keeps the other processes (and the next minutes) from trying again at once, and a stale
  cached copy is still used (a released version's checksums do not change);
- urllib with a timeout per socket operation AND an overall deadline while reading, and a size
  cap, so a server that dribbles bytes cannot hold a worker.
Cache files are named by a hash of the URL, never by the slug or version an attacker wrote.
"""
import collections
import errno
import fcntl
import hashlib
import logging
import os
import queue
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.request

MISSING = 'missing'          # the service has no list for this version/plugin (404, false)
MAX_BODY = 64 << 20          # the largest plugin lists (WooCommerce) are a few MB
RETRY_AFTER = 600            # seconds before a failed fetch is tried again
MEMORY = 256                 # parsed lists kept in memory per process
IDLE_EXIT = 60               # seconds the background thread waits for work before it ends
_OPEN_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0)


class FetchError(Exception):
    """A list that could not be had this time (network, HTTP error, bad format)."""


def fetch(url, timeout, max_body=MAX_BODY):
    """Body of `url`, or MISSING for a 404; raises FetchError for anything else."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={'User-Agent': 'newfilewatch'})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            chunks, size = [], 0
            while True:
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_body:
                    raise FetchError('answer larger than %d bytes' % max_body)
                if time.monotonic() > deadline:
                    raise FetchError('no complete answer within %gs' % timeout)
                chunks.append(chunk)
            return b''.join(chunks)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return MISSING
        raise FetchError('HTTP %d' % exc.code)
    except (urllib.error.URLError, OSError, ValueError) as exc:   # timeouts are OSErrors
        raise FetchError(str(getattr(exc, 'reason', None) or exc) or exc.__class__.__name__)


def usable_dir(path):
    """True when `path` is (or can be made) a directory this process can write.

    Made by root (`scan` run by the admin), it gets the owner of its parent, so the daemon's
    user can still write the cache in its own /var/lib/newfilewatch.
    """
    try:
        os.makedirs(path, 0o755)
        if os.geteuid() == 0:
            parent = os.lstat(os.path.dirname(os.path.abspath(path)))
            os.chown(path, parent.st_uid, parent.st_gid, follow_symlinks=False)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            return False
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


class ChecksumStore(object):
    """URL -> parsed list (or MISSING, or None while unknown), from memory, disk or the network.

    `parse(body)` turns a body into the value (None meaning MISSING, ValueError: malformed).
    """

    def __init__(self, cache_dir, max_age=7 * 86400, timeout=10.0, logger=None,
                 clock=time.time, fallback_dir=None):
        self.cache_dir = cache_dir
        self.fallback_dir = fallback_dir     # shared by a scan's workers when cache_dir is not ours
        self.max_age = max_age
        self.timeout = timeout
        self.log = logger or logging.getLogger('newfilewatch')
        self.clock = clock
        self.memory = collections.OrderedDict()      # url -> (value, fresh_until)
        self.failed = {}                              # url -> retry time
        self.told = set()                             # urls whose failure was logged
        self._disk = None                             # None: not checked yet
        self._lock = threading.Lock()
        self._queue = None
        self._queued = set()

    # -- the one entry point ----------------------------------------------------------------
    def get(self, url, parse, wait):
        """The list for `url`: a value, MISSING, or None (not known now; rules apply).

        wait=True fetches in this thread (scan); wait=False never blocks on the network and
        queues a background fetch instead (the daemon).
        """
        now = self.clock()
        with self._lock:
            hit = self.memory.get(url)
            if hit is not None:
                self.memory.move_to_end(url)
                if hit[1] > now:
                    return hit[0]
        cached = self._read_cache(url, parse)
        if cached is not None and cached[1] > now:
            return self._remember(url, cached[0], cached[1])
        if self.failed.get(url, 0) > now:
            return cached[0] if cached else (hit[0] if hit else None)
        if not wait:
            self._enqueue(url, parse)
            return cached[0] if cached else (hit[0] if hit else None)
        value = self._fetch_locked(url, parse)
        if value is None and cached is not None:
            return cached[0]                          # stale beats nothing
        return value

    # -- memory -----------------------------------------------------------------------------
    def _remember(self, url, value, fresh_until):
        with self._lock:
            self.memory[url] = (value, fresh_until)
            self.memory.move_to_end(url)
            while len(self.memory) > MEMORY:
                self.memory.popitem(last=False)
        return value

    # -- disk -------------------------------------------------------------------------------
    def _disk_ok(self):
        """Checked at the first list needed, so a tree without WordPress touches no cache dir."""
        if self._disk is None:
            self._disk = bool(self.cache_dir) and usable_dir(self.cache_dir)
            if not self._disk and self.fallback_dir and usable_dir(self.fallback_dir):
                if self._first_to_say(self.fallback_dir):
                    self.log.warning('integrity: cache_dir %s is not writable; using %s for this '
                                     'run', self.cache_dir, self.fallback_dir)
                self.cache_dir, self._disk = self.fallback_dir, True
            elif not self._disk and self.cache_dir:
                self.log.warning('integrity: cache_dir %s is not writable; checksum lists are '
                                 'kept in memory only', self.cache_dir)
        return self._disk

    @staticmethod
    def _first_to_say(directory):
        """True in exactly one of the processes sharing `directory` (O_EXCL on a marker)."""
        try:
            os.close(os.open(os.path.join(directory, '.told'),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            return True
        except OSError:
            return False

    def _name(self, url, suffix):
        return os.path.join(self.cache_dir, hashlib.sha256(url.encode('utf-8')).hexdigest()[:40]
                            + suffix)

    def _read_file(self, path):
        """(bytes, mtime) of a cache file, or None; never follows a planted symlink."""
        try:
            fd = os.open(path, _OPEN_READ)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BODY:
                return None
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
            return b''.join(chunks), st.st_mtime
        except OSError:
            return None
        finally:
            os.close(fd)

    def _read_cache(self, url, parse):
        """(value, fresh_until) from the cache dir, or None."""
        if not self._disk_ok():
            return None
        got = self._read_file(self._name(url, '.json'))
        if got is None:
            return None
        body, mtime = got
        if body == b'':                                # the 404 / false marker
            return MISSING, mtime + self.max_age
        try:
            value = parse(body)
        except ValueError:
            return None
        return (MISSING if value is None else value), mtime + self.max_age

    def _write_cache(self, url, body):
        if not self._disk_ok():
            return
        try:
            fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix='.tmp-')
            try:
                os.fchmod(fd, 0o644)
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, self._name(url, '.json'))
        except OSError as exc:
            self.log.warning('integrity: cannot write the checksum cache in %s: %s',
                             self.cache_dir, exc.strerror or exc)

    def _failed_recently(self, url):
        if not self._disk_ok():
            return False
        try:
            st = os.lstat(self._name(url, '.failed'))
        except OSError:
            return False
        return st.st_mtime + RETRY_AFTER > self.clock()

    def _mark_failed(self, url):
        self.failed[url] = self.clock() + RETRY_AFTER
        if self._disk_ok():
            path = self._name(url, '.failed')
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
                try:
                    os.utime(fd)                # the file opened, never a link swapped in
                finally:
                    os.close(fd)
            except OSError:
                pass

    # -- network ----------------------------------------------------------------------------
    def _fetch_locked(self, url, parse):
        """Fetch under a per-list lock file, so one of N processes fetches and the rest read."""
        lock_fd = None
        if self._disk_ok():
            try:
                lock_fd = os.open(self._name(url, '.lock'),
                                  os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            except OSError:
                if lock_fd is not None:
                    os.close(lock_fd)
                lock_fd = None
        try:
            cached = self._read_cache(url, parse)       # another process may have fetched it
            if cached is not None and cached[1] > self.clock():
                return self._remember(url, cached[0], cached[1])
            if self._failed_recently(url):
                self.failed[url] = self.clock() + RETRY_AFTER
                return None
            return self._fetch_now(url, parse)
        finally:
            if lock_fd is not None:
                os.close(lock_fd)                       # closing releases the flock

    def _fetch_now(self, url, parse):
        try:
            body = fetch(url, self.timeout)
            value = MISSING if body is MISSING else parse(body)
        except (FetchError, ValueError) as exc:
            self._mark_failed(url)
            if url not in self.told:
                self.told.add(url)
                self.log.warning('integrity: no checksums from %s (%s); those files are judged '
                                 'by the rules alone', url, exc)
            return None
        if value is None:
            value = MISSING
        self._write_cache(url, b'' if value is MISSING else body)
        if value is MISSING and url not in self.told:
            self.told.add(url)
            self.log.info('integrity: %s has no checksums (not hosted or not released)', url)
        self.failed.pop(url, None)
        return self._remember(url, value, self.clock() + self.max_age)

    # -- background -------------------------------------------------------------------------
    def _enqueue(self, url, parse):
        with self._lock:
            if url in self._queued:
                return
            self._queued.add(url)
            if self._queue is None:
                self._queue = queue.Queue()
                thread = threading.Thread(target=self._background, args=(self._queue,),
                                          name='nfw-checksums')
                thread.daemon = True                    # never holds up a stop
                thread.start()
            self._queue.put((url, parse))

    def _background(self, work):
        """Fetches queued lists; ends after a minute without work (a reload makes a new store)."""
        while True:
            try:
                url, parse = work.get(timeout=IDLE_EXIT)
            except queue.Empty:
                with self._lock:
                    if work.empty():
                        self._queue = None
                        return
                continue
            try:
                self._fetch_locked(url, parse)
            except Exception:                           # a bug here must not end the thread
                self.log.exception('integrity: fetching %s failed', url)
            finally:
                with self._lock:
                    self._queued.discard(url)

    def idle(self):
        """True when no background fetch is queued or running (for tests and shutdown)."""
        with self._lock:
            return not self._queued
