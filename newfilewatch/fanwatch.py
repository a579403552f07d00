"""Whole-filesystem watching with fanotify, behind the same interface as the inotify Watcher.

inotify needs one watch (~1 KiB of kernel memory) per directory and a walk to set them up;
fanotify (Linux 5.9+) reports create / close-write / move events of a whole filesystem from
one FAN_MARK_FILESYSTEM mark, naming the directory by its file handle and the entry by name,
and every event carries the writer's pid.  So here:
- `prepare()` runs as root before the privilege drop: the group, one mark per filesystem that
  holds a root (or may hold one later: the existing dir above a glob's first wildcard), and an
  open directory fd on each mount (open_by_handle_at needs one).  Those fds are kept across the
  drop; turning a handle into a path then needs CAP_DAC_READ_SEARCH alone, which the daemon
  keeps.  A mark needs CAP_SYS_ADMIN, which it does not: a root that appears later on a
  filesystem that was not marked at start is watched with inotify, with a log line.
- `FanWatcher` reads the events.  An event is dropped at the cheapest point: by its mask, by
  its name against the include globs (before any syscall), by the directory's path (one
  open_by_handle_at + readlink per directory, then a dict lookup) against the roots and
  excludes.  It hands on the same Candidate values as the inotify Watcher, plus the writer.
- Roots whose filesystem refuses fanotify (no fsid, no file handles, a btrfs subvolume, ...) get
  an inotify Watcher of their own inside this one; the service sees one object, one fd (epoll).
- No sweep of new directories is needed (the filesystem mark sees their files from the first
  one), except for a directory moved in from outside the roots, whose files never had events.
  With FAN_REPORT_TARGET_FID (5.17+) a directory moved within the roots is recognised by its
  own handle and not swept again; on older kernels (EL9's 5.14) it is swept, which costs
  repeated new-file lines for its files, never a missed one.
- FAN_Q_OVERFLOW: the same ctime rescan of the roots as inotify's overflow.
"""
import collections
import errno
import glob
import logging
import os
import select
import stat
import sys
import time

from newfilewatch import fanotify
from newfilewatch.escape import escape_name
from newfilewatch.model import Candidate
from newfilewatch.walk import walk
from newfilewatch.watcher import CTIME_SLACK, OVERFLOW_QUIET, Watcher, expand_roots
from newfilewatch.writer import Writers

BACKENDS = ('auto', 'inotify', 'fanotify')
MARK_MASK = (fanotify.FAN_CREATE | fanotify.FAN_CLOSE_WRITE | fanotify.FAN_MOVED_TO |
             fanotify.FAN_MOVED_FROM | fanotify.FAN_ONDIR | fanotify.FAN_EVENT_ON_CHILD)
FAN_REPORT_TARGET_FID = 0x1000         # 5.17+: dirent events also carry the entry's own handle
AT_EMPTY_PATH = 0x1000
DIR_CACHE = 65536                      # dir handles remembered (path or "not ours"): <~16 MB
_GONE = (errno.ESTALE, errno.ENOENT)
DROPPED = ('its filesystem was not marked at start, and marking needs CAP_SYS_ADMIN, which the '
           'daemon dropped (restart to watch it with fanotify)')
NO_READ_SEARCH = ('turning file handles into paths (open_by_handle_at) needs '
                  'CAP_DAC_READ_SEARCH, which this process lacks (EPERM)')

_ONDIR, _OVERFLOW = fanotify.FAN_ONDIR, fanotify.FAN_Q_OVERFLOW
_MOVES = fanotify.FAN_MOVED_FROM | fanotify.FAN_MOVED_TO
_TAKEN = fanotify.FAN_CLOSE_WRITE | fanotify.FAN_MOVED_TO
_CREATE, _MOVED_TO = fanotify.FAN_CREATE, fanotify.FAN_MOVED_TO
_MOVED_FROM = fanotify.FAN_MOVED_FROM
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
_MISSING = object()


def mark_paths(patterns):
    """Where filesystems are marked at start: every existing root, and for a glob the deepest
    existing directory above its first wildcard (/home for /home/*/public_html), where roots
    made after the privilege drop will appear."""
    out = list(expand_roots(patterns))
    for pattern in patterns:
        if glob.has_magic(pattern):
            parts = pattern.split('/')
            fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
            base = '/'.join(parts[:fixed]) or '/'
            while base != '/' and not os.path.isdir(base):
                base = os.path.dirname(base)
            if base not in out:
                out.append(base)
    return out


def handle_path(mount_fd, handle):
    """The path of the object a file handle names (None when it is deleted), or OSError."""
    fd = fanotify.open_by_handle(mount_fd, handle)
    try:
        path = os.readlink('/proc/self/fd/%d' % fd)
        if path.endswith(' (deleted)') and os.fstat(fd).st_nlink == 0:
            return None
        return path
    finally:
        os.close(fd)


def _dir_id(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Marks(object):
    """The group, the marked filesystems and a directory fd per mount; built as root.

    mounts: fsid bytes -> [(mount_id, fd)]; refused: path -> reason; failure: why there is no
    group at all (None when there is one).
    """

    def __init__(self, group=None, failure=None, target_fid=False):
        self.group = group
        self.failure = failure
        self.target_fid = target_fid
        self.mounts = {}
        self.refused = {}
        self.refused_fs = {}               # fsid -> why its mark was refused (asked once)
        self.made_as_root = os.geteuid() == 0

    def fds(self):
        """Every fd to keep over the privilege drop (python-daemon's files_preserve)."""
        fds = [self.group.fileno()] if self.group is not None else []
        return fds + [fd for mounts in self.mounts.values() for _, fd in mounts]

    def add(self, path):
        """Cover `path`: mark its filesystem if new (needs CAP_SYS_ADMIN), keep an fd on its
        mount, and check that a handle of `path` turns back into its own path.
        None when covered, else the reason (also kept in self.refused)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            return self._refuse(path, exc)
        keep = False
        try:
            key = fanotify.fsid(fd)
            handle, mount_id = fanotify.name_to_handle(b'', dirfd=fd, flags=AT_EMPTY_PATH)
            if key in self.refused_fs:
                self.refused[path] = self.refused_fs[key]
                return self.refused_fs[key]
            marked_here = key not in self.mounts
            if marked_here:
                try:
                    self.group.mark_filesystem(path, MARK_MASK)
                except OSError as exc:
                    if exc.errno == errno.EPERM and self.made_as_root and os.geteuid() != 0:
                        return self._refuse(path, exc, DROPPED)
                    reason = self._refuse(path, exc)
                    if exc.errno != errno.EPERM:         # the filesystem's answer, not ours
                        self.refused_fs[key] = reason
                    return reason
            try:
                resolved = handle_path(fd, handle)
            except OSError as exc:
                resolved = exc
            if resolved != os.path.realpath(path):
                if marked_here:
                    self.group.mark_filesystem(path, MARK_MASK, remove=True)
                if isinstance(resolved, OSError):
                    return self._refuse(path, resolved, NO_READ_SEARCH
                                        if resolved.errno == errno.EPERM else None)
                return self._refuse(path, None, 'its file handle leads to %s, not to it (a '
                                    'bind mount of part of a filesystem?)' % escape_name(
                                        resolved or '?'))
            mounts = self.mounts.setdefault(key, [])
            if mount_id not in [m for m, _ in mounts]:
                mounts.append((mount_id, fd))
                keep = True
            self.refused.pop(path, None)
            return None
        except OSError as exc:
            return self._refuse(path, exc)
        finally:
            if not keep:
                os.close(fd)

    def _refuse(self, path, exc, reason=None):
        self.refused[path] = reason = reason or fanotify.refusal(exc)
        return reason

    def close(self):
        for mounts in self.mounts.values():
            for _, fd in mounts:
                os.close(fd)
        self.mounts = {}
        if self.group is not None:
            self.group.close()
            self.group = None


def prepare(patterns, backend='auto'):
    """The Marks for `backend` (None for 'inotify'); as root, before the privilege drop."""
    if backend == 'inotify':
        return None
    group, target, failure = None, False, None
    for flags, with_target in ((fanotify.Group.FLAGS | FAN_REPORT_TARGET_FID, True),
                               (fanotify.Group.FLAGS, False)):
        try:
            group, target = fanotify.Group(flags), with_target
            break
        except OSError as exc:
            failure = fanotify.refusal(exc)
            if exc.errno != errno.EINVAL:
                break
    marks = Marks(group, None if group else failure, target)
    if group is not None:
        for path in mark_paths(patterns):
            marks.add(path)
    return marks


class _Count(object):
    """What `len(watcher.paths)` reports for this backend: marks plus inotify watches."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


class FanWatcher(object):
    """The fanotify backend: Watcher's interface (start/read/tick/next_deadline/reconfigure)."""

    backend = 'fanotify'

    def __init__(self, marks, patterns, rules, emit, settle_delay=5.0, sweep_interval=300,
                 clock=time.time, logger=None, walk_error=None):
        self.marks = marks
        self.group = marks.group
        self.patterns = tuple(patterns)
        self.rules = rules
        self.emit = emit
        self._settle_delay = settle_delay
        self._sweep_interval = sweep_interval
        self.clock = clock
        self.log = logger or logging.getLogger('newfilewatch.fanwatch')
        self.walk_error = walk_error
        self.roots = []                       # every root, as Watcher.roots
        self.fan_roots = {}                   # real path of a fanotify root -> root as configured
        self.inotify = None                   # a Watcher for the roots fanotify cannot watch
        self.created = {}                     # path -> (time, writer): created, not yet closed
        self._fresh = {}
        self._dirs = {}                       # dir key -> path, or None: not ours / deleted
        self._moved = collections.OrderedDict()   # own keys of dirs moved from inside the roots
        self._root_ids = {}                   # root -> (st_dev, st_ino) when last seen
        self.writers = Writers()
        self.counts = collections.Counter()   # stale (deleted dirs), overflows, resolve errors
        self._overflow_since = None
        self.overflow_at = 0.0
        self.overflows = 0
        self.last_event = clock()
        self.next_sweep = clock() + sweep_interval
        self._errors = collections.Counter()
        self._error_example = {}
        self._epoll = select.epoll()
        self._epoll.register(self.group.fileno(), select.EPOLLIN)

    # -- settings the service changes on reload, passed on to the inotify part ----------------
    @property
    def settle_delay(self):
        return self._settle_delay

    @settle_delay.setter
    def settle_delay(self, value):
        self._settle_delay = value
        if self.inotify is not None:
            self.inotify.settle_delay = value

    @property
    def sweep_interval(self):
        return self._sweep_interval

    @sweep_interval.setter
    def sweep_interval(self, value):
        self._sweep_interval = value
        if self.inotify is not None:
            self.inotify.sweep_interval = value

    @property
    def overflow_since(self):
        if self.inotify is not None and self.inotify.overflow_since is not None:
            if self._overflow_since is None:
                return self.inotify.overflow_since
            return min(self._overflow_since, self.inotify.overflow_since)
        return self._overflow_since

    @property
    def paths(self):
        return _Count(sum(len(m) for m in self.marks.mounts.values()) +
                      (len(self.inotify.paths) if self.inotify is not None else 0))

    # -- setup ----------------------------------------------------------------------------------
    def fileno(self):
        return self._epoll.fileno()

    def start(self, since=None):
        """Split the roots between fanotify and inotify, say which runs where and why."""
        self.roots = expand_roots(self.patterns)
        for pattern in self.patterns:
            if not glob.has_magic(pattern) and not os.path.isdir(pattern):
                self.log.warning('watch dir %s does not exist (yet); checked again every %ds',
                                 pattern, self._sweep_interval)
        fallback = self._place(self.roots)
        if self.fan_roots:
            self.log.info('watch backend fanotify for %d root(s) on %d filesystem(s): the kernel '
                          'and the filesystems support it (one mark per filesystem, no '
                          'per-directory watches)', len(self.fan_roots), len(self.marks.mounts))
        if fallback:
            self._start_inotify(fallback, since)
        if since is not None:
            for root in self.fan_roots.values():
                self._sweep(root, 'catch-up', since=since - CTIME_SLACK)
        self._report_walk_errors()
        return len(self.paths)

    def _place(self, roots):
        """Adopt each root for fanotify; returns the ones that need inotify (logged by reason)."""
        fallback = collections.OrderedDict()
        for root in roots:
            reason = self.marks.add(root)
            if reason is None:
                self.fan_roots[os.path.realpath(root)] = root
                self._root_ids[root] = _dir_id(root)
            else:
                fallback.setdefault(reason, []).append(root)
        for reason, group in fallback.items():
            self.log.warning('watch backend inotify for %s: fanotify refused: %s',
                             ', '.join(escape_name(r) for r in group), reason)
        self._dirs.clear()
        return [r for group in fallback.values() for r in group]

    def _start_inotify(self, roots, since=None):
        if self.inotify is None:
            self.inotify = Watcher(roots, self.rules, self.emit, settle_delay=self._settle_delay,
                                   sweep_interval=self._sweep_interval, clock=self.clock,
                                   walk_error=self.walk_error)
            self.inotify.start(since=since)
            self._epoll.register(self.inotify.fileno(), select.EPOLLIN)
        else:
            self.inotify.reconfigure(list(self.inotify.patterns) + list(roots), self.rules)

    def close(self):
        if self.inotify is not None:
            self.inotify.close()
        self._epoll.close()
        self.marks.close()

    # -- events ---------------------------------------------------------------------------------
    def read(self, now=None):
        """Drain what is queued (both backends); returns the number of events handled."""
        now = self.clock() if now is None else now
        events = self.group.read()
        if events:
            self.process(events, now)
        got = len(events)
        if self.inotify is not None:
            got += self.inotify.read(now)
        return got

    def process(self, events, now):
        """Turn one batch of fanotify events into candidates (runs once per kernel event)."""
        dirs, emit, fresh, wants = self._dirs, self.emit, self._fresh, self.rules.wants_file
        may_want, writers = self.rules.may_want_name, self.writers
        if any(e[0] & _ONDIR and e[0] & _MOVES for e in events):
            # A dir moved: paths remembered for the handles below it are stale now, and the
            # handles are resolved after the move whatever the order of the events.
            dirs.clear()
        for mask, pid, key, name, child, _ in events:
            if mask & _OVERFLOW:
                self._overflowed(now)
                continue
            if key is None or name is None or name == b'.':
                continue
            is_dir = mask & _ONDIR
            if not is_dir:
                if not mask & (_TAKEN | _CREATE):
                    continue                      # a file moved away
                name = name.decode(_FS_ENCODING, _FS_ERRORS)
                if not may_want(name):
                    continue                      # cheapest drop: no syscall, no dir lookup
            else:
                name = name.decode(_FS_ENCODING, _FS_ERRORS)
            directory = dirs.get(key, _MISSING)
            if directory is _MISSING:
                directory = self._resolve(key)
            if directory is None:
                continue
            path = directory + '/' + name if directory[-1] != '/' else directory + name
            if is_dir:
                self._dir_event(path, mask, pid, child, now)
            elif mask & _TAKEN:
                if fresh:
                    fresh.pop(path, None)
                if wants(path):
                    self.created.pop(path, None)
                    emit(Candidate(path, False, 'close_write' if mask & fanotify.FAN_CLOSE_WRITE
                                   else 'moved_to', writers.get(pid, now)))
            elif not mask & _MOVED_FROM:          # created (and not renamed away at once)
                fresh[path] = pid
        self.last_event = now
        if fresh:
            self._fresh = {}
            for path, pid in fresh.items():
                if wants(path):
                    self._file_created(path, now, writers.get(pid, now))
        if self._errors:
            self._report_walk_errors()

    def _resolve(self, key):
        """Path of the dir a handle names when it is inside a root and not pruned, else None."""
        mounts = self.marks.mounts.get(key[:8])
        path = None
        for _, mount_fd in mounts or ():
            try:
                real = handle_path(mount_fd, key[8:])
            except OSError as exc:
                if exc.errno in _GONE:
                    real = None
                else:
                    self.counts['resolve errors'] += 1
                    if self.counts['resolve errors'] == 1:
                        self.log.error('cannot turn a directory handle into a path: %s', exc)
                    return None                # not cached: may work again (it is not ours)
            if real is None:
                self.counts['stale'] += 1      # deleted before we read its event
                break
            path = self._inside(real)
            if path is not None:
                break
        if len(self._dirs) >= DIR_CACHE:
            self._dirs.clear()
        self._dirs[key] = path
        return path

    def _inside(self, real):
        """`real` (a canonical dir path) as seen under its root, or None (outside / pruned)."""
        roots = self.fan_roots
        probe = real
        while True:
            root = roots.get(probe)
            if root is not None:
                break
            if probe == '/':
                return None
            probe = os.path.dirname(probe)
        rest = real[len(probe):].lstrip('/')
        path = root
        prunes = self.rules.prunes_dir
        for part in rest.split('/') if rest else ():
            path = path.rstrip('/') + '/' + part
            if prunes(path):
                return None
        return path

    def _dir_event(self, path, mask, pid, child, now):
        if mask & _MOVED_FROM and child is not None:
            self._moved[child] = now              # moved from inside a root: its files are known
            if len(self._moved) > 4096:
                self._moved.popitem(last=False)
        if mask & _MOVED_TO:
            if child is not None and self._moved.pop(child, None) is not None:
                return                            # moved within the roots: nothing new
            if not self.rules.prunes_dir(path):
                # moved in from outside the roots: its files never had an event of ours
                self._sweep(path, 'new dir', writer=self.writers.get(pid, now))

    def _file_created(self, path, now, writer):
        """Regular files wait for their close; links and special files never get one."""
        try:
            st = os.lstat(path)
        except OSError:
            return
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            self.created[path] = (now, writer)
        else:
            self.emit(Candidate(path, False, 'created', writer))

    def _sweep(self, top, reason, since=None, writer=None):
        for path, entry in walk(top, self.rules, None, self._walk_failed, files=True):
            if since is not None:
                try:
                    if entry.stat(follow_symlinks=False).st_ctime < since:
                        continue
                except OSError:
                    continue
            self.emit(Candidate(path, True, reason, writer))

    def _walk_failed(self, path, exc):
        key = exc.strerror or str(exc)
        self._errors[key] += 1
        self._error_example.setdefault(key, path)

    def _report_walk_errors(self):
        for key, count in self._errors.items():
            example = self._error_example[key]
            self.log.warning('%d dir(s) not swept: %s (e.g. %s)', count, key, escape_name(example))
            if self.walk_error:
                self.walk_error(example, '%d dir(s) not swept: %s' % (count, key))
        self._errors.clear()
        self._error_example.clear()

    def _overflowed(self, now):
        self.overflows += 1
        since = self.last_event - CTIME_SLACK
        self._overflow_since = since if self._overflow_since is None else min(
            since, self._overflow_since)
        self.overflow_at = now
        self.log.warning('fanotify queue overflowed (16384 events): events lost, rescanning '
                         'files changed since %s', time.strftime(
                             '%H:%M:%S', time.localtime(self._overflow_since)))

    # -- timers ---------------------------------------------------------------------------------
    def next_deadline(self):
        due = [self.next_sweep]
        if self.created:
            due.append(min(t for t, _ in self.created.values()) + self._settle_delay)
        if self._overflow_since is not None:
            due.append(self.overflow_at + OVERFLOW_QUIET)
        if self.inotify is not None:
            due.append(self.inotify.next_deadline())
        return min(due)

    def tick(self, now):
        if self.created:
            ripe = [p for p, (t, _) in self.created.items() if now - t >= self._settle_delay]
            for path in ripe:
                _, writer = self.created.pop(path)
                self.emit(Candidate(path, True, 'settle', writer))
        if self._overflow_since is not None and now - self.overflow_at >= OVERFLOW_QUIET:
            since, self._overflow_since = self._overflow_since, None
            self.rescan(since, reason='overflow')
        if now >= self.next_sweep:
            self.sweep(now)
        if self.inotify is not None:
            self.inotify.tick(now)

    def rescan(self, since, reason='rescan'):
        """Re-walk the fanotify roots: hand on files changed since `since`."""
        for root in list(self.fan_roots.values()):
            self._sweep(root, reason, since=since)
        self._report_walk_errors()

    def sweep(self, now):
        """Periodic: pick up new roots (globs); the inotify part sweeps its own."""
        self.next_sweep = now + self._sweep_interval
        known = set(self.fan_roots.values()) | set(self.inotify.patterns if self.inotify else ())
        new = [r for r in expand_roots(self.patterns) if r not in known]
        for root in new:
            self.log.info('new watch root %s', escape_name(root))
            self.roots.append(root)
        fallback = self._place(new)
        for root in new:
            if root not in fallback:
                self._sweep(root, 'new root')
        for root in list(self.fan_roots.values()):
            # a root moved away and back (or deleted and made again, or moved in whole) had
            # no event of ours for what it holds: as the inotify watcher does, sweep it
            seen, now_id = self._root_ids.get(root), _dir_id(root)
            self._root_ids[root] = now_id
            if now_id is not None and seen != now_id:
                self.log.info('watch root %s is back: swept', escape_name(root))
                self._sweep(root, 'new root')
        if fallback:
            self._start_inotify(fallback)
        self._report_walk_errors()

    def reconfigure(self, patterns, rules):
        """New roots / excludes: re-split the roots; the inotify part gets what fanotify cannot."""
        self.patterns, self.rules = tuple(patterns), rules
        self.roots = expand_roots(self.patterns)
        self.fan_roots = {}
        fallback = self._place(self.roots)
        if self.inotify is not None:
            self.inotify.reconfigure(fallback, rules)
        elif fallback:
            self._start_inotify(fallback)
        return len(self.paths)


def make_watcher(cfg, rules, emit, walk_error=None, marks=None, logger=None):
    """The watcher [watch] backend asks for; `marks` are the ones prepared before a drop.

    auto / fanotify: fanotify where the kernel and the filesystems allow it, inotify for the
    rest, each choice said in the log (explicit 'fanotify' is not fatal where refused either:
    a watcher that runs beats one that does not start).
    """
    log = logger or logging.getLogger('newfilewatch.fanwatch')
    backend = getattr(cfg.watch, 'backend', 'inotify')
    kwargs = dict(settle_delay=cfg.watch.settle_delay, sweep_interval=cfg.watch.sweep_interval,
                  walk_error=walk_error)
    if backend != 'inotify':
        if marks is None:
            marks = prepare(cfg.watch.dirs, backend)
        if marks.group is not None and marks.mounts:
            return FanWatcher(marks, cfg.watch.dirs, rules, emit, **kwargs)
        failure = marks.failure or 'refused for every root: %s' % '; '.join(
            '%s: %s' % (escape_name(p), r) for p, r in sorted(marks.refused.items()))
        marks.close()
        log.log(logging.WARNING if backend == 'fanotify' else logging.INFO,
                'watch backend inotify: fanotify unavailable: %s', failure)
    else:
        log.info('watch backend inotify ([watch] backend = inotify)')
    return Watcher(cfg.watch.dirs, rules, emit,
                   allow_root_links=getattr(cfg.watch, 'allow_root_links', ()), **kwargs)
