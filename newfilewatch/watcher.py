"""Recursive inotify watching of the web roots, turned into a stream of Candidate paths.

The watcher is the emitter of watchdog's split: it only turns kernel events into values
(`model.Candidate`) and hands them to `emit`; what happens to a path is the pipeline's business.
It owns the gaps inotify leaves, each of which loses files with stock pyinotify:
- a new or moved-in directory is watched at once and *swept*: files that landed in it before
  the watch existed (mkdir -p a/b/c && echo x > a/b/c/s.php) get synthetic candidates;
- a directory moved out or deleted drops its watches (no '-unknown-path' leftovers);
- IN_Q_OVERFLOW means events are gone: every root is re-walked and files whose ctime is newer
  than the last event seen are handed on (ctime, because users can set mtime but not ctime);
- ENOSPC (out of watches) is reported plainly, and the dirs left unwatched are swept every
  `sweep_interval` seconds instead, so nothing under them is missed for good;
- a file created and kept open (no IN_CLOSE_WRITE) is handed on after `settle_delay`;
  a symlink, FIFO or hard link, which never get IN_CLOSE_WRITE, at once.
Excluded dirs are pruned in our own walk (walk.py), so nothing below them is ever watched.
"""
import collections
import collections.abc
import errno
import fnmatch
import glob
import logging
import os
import stat
import sys
import time

from newfilewatch import inotify
from newfilewatch.escape import escape_name
from newfilewatch.model import Candidate
from newfilewatch.rules import under
from newfilewatch.walk import LEAF, walk

DIR_MASK = (inotify.IN_CLOSE_WRITE | inotify.IN_MOVED_TO | inotify.IN_MOVED_FROM |
            inotify.IN_CREATE | inotify.IN_DELETE_SELF | inotify.IN_ONLYDIR |
            inotify.IN_DONT_FOLLOW | inotify.IN_EXCL_UNLINK)
# Roots: follow an admin's symlink, and hear when the root itself is moved away (below the
# roots a move is seen as IN_MOVED_FROM in the parent).
ROOT_MASK = (DIR_MASK & ~inotify.IN_DONT_FOLLOW) | inotify.IN_MOVE_SELF
SWEEP_STEPS = 256          # units of sweep work (a root checked, a file handed on) per turn
SWEEP_SLICE = 0.05         # seconds of sweeping per turn at most, then the loop reads events
CTIME_SLACK = 2.0          # ctime comes from the kernel's coarse clock; rescans look back this far
OVERFLOW_QUIET = 0.2       # let a burst drain before re-walking, so one rescan covers it
# per-event constants as plain module globals (process() runs once per kernel event)
_OVERFLOW, _IGNORED, _ISDIR = inotify.IN_Q_OVERFLOW, inotify.IN_IGNORED, inotify.IN_ISDIR
_CREATE, _MOVED_TO, _MOVE_SELF = inotify.IN_CREATE, inotify.IN_MOVED_TO, inotify.IN_MOVE_SELF
_TAKEN = inotify.IN_CLOSE_WRITE | inotify.IN_MOVED_TO
_decode = bytes.decode                                   # os.fsdecode, minus two Python calls
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


# Filesystems where a dir's st_nlink is 2 + its number of subdirs (as GNU find's leaf
# optimisation assumes): a dir with st_nlink == 2 there has no subdir, so the setup walk need
# not list it.  btrfs (nlink 1), NFS, CIFS, FUSE and overlay are not here: they are listed.
NLINK_COUNTS_SUBDIRS = frozenset(('ext2', 'ext3', 'ext4', 'xfs', 'tmpfs'))


def mount_types(text):
    """/proc/self/mountinfo text -> {(major, minor): fstype}; pure, for tests."""
    types = {}
    for line in text.splitlines():
        fields = line.split()
        if '-' not in fields[6:]:
            continue
        sep = fields.index('-', 6)
        try:
            major, minor = fields[2].split(':')
            types[(int(major), int(minor))] = fields[sep + 1]
        except (ValueError, IndexError):
            continue
    return types


def _read_mount_types():
    try:
        with open('/proc/self/mountinfo') as fh:
            return mount_types(fh.read())
    except OSError:
        return {}


def expand_roots(patterns, allow_links=(), refused=None):
    """Glob the configured dirs ('/home/*/public_html') into existing, normalised directories.

    A glob match that is a symlink is a customer's doing (their public_html -> /usr would make
    the daemon watch and scan the system): it is kept only when it resolves inside the
    directory its glob names (root_base) or inside one of `allow_links`; otherwise it is
    appended to `refused` as (match, target).  A dir the admin named without a glob may be a
    link anywhere.  n log n: one sort by path components puts every dir right after the root
    that contains it, so nested roots are dropped in one pass.
    """
    roots = set()
    for pattern in patterns:
        roots.update(root_matches(pattern, allow_links, refused))
    return drop_nested(roots)


def root_matches(pattern, allow_links=(), refused=None):
    """The existing dirs one configured pattern names, one at a time (a sweep pauses between)."""
    if not glob.has_magic(pattern):
        if os.path.isdir(pattern):
            yield os.path.normpath(pattern)
        return
    for match in glob.iglob(pattern):
        match = os.path.normpath(match)
        if not os.path.isdir(match):
            continue
        if os.path.islink(match) and not link_allowed(pattern, match, allow_links):
            if refused is not None:
                refused.append((match, os.path.realpath(match)))
            continue
        yield match


def drop_nested(roots):
    """Sorted roots without those inside another (they add nothing but duplicate walks)."""
    kept, last = [], None
    for root in sorted(roots, key=lambda r: r.split('/')):
        if last is not None and under(root, last):
            continue
        kept.append(root)
        last = root
    return kept


def root_base(pattern, match):
    """The directory a glob's match must stay in: the match up to the glob's last wildcard
    component ('/home/*/public_html' -> '/home/alice'), or the match's parent when the
    wildcard is the last component ('/var/www/*' -> '/var/www').  Pure."""
    parts = os.path.normpath(pattern).split('/')
    magic = [i for i, part in enumerate(parts) if glob.has_magic(part)]
    last = magic[-1] if magic else len(parts) - 1
    if last == len(parts) - 1:
        last -= 1
    return '/'.join(os.path.normpath(match).split('/')[:last + 1]) or '/'


def link_allowed(pattern, match, allow_links=()):
    """May the glob match `match` (a symlink) be watched where it points?"""
    target = os.path.realpath(match)
    if under(target, os.path.realpath(root_base(pattern, match))):
        return True
    return any(under(target, os.path.realpath(a)) or fnmatch.fnmatchcase(target, a)
               for a in allow_links)


class Roots(list):
    """The watch roots in order, with set-speed `in` (10,000 glob roots are tested per event
    and per sweep).  Only append/remove/extend change it."""

    def __init__(self, items=()):
        list.__init__(self, items)
        self._set = set(self)

    def __contains__(self, item):
        return item in self._set

    def append(self, item):
        list.append(self, item)
        self._set.add(item)

    def extend(self, items):
        for item in items:
            self.append(item)

    def remove(self, item):
        list.remove(self, item)
        if item not in list.__iter__(self):
            self._set.discard(item)


class WatchTable(collections.abc.MutableMapping):
    """wd -> directory path, for ~8 B plus the path string per watch (a dict costs ~84 B more).

    On a host with 100k+ dirs this table is most of the daemon's memory.  A dict entry plus
    its int key costs ~84 B per watch; the kernel hands out wds in increasing order
    (idr_alloc_cyclic), so the watches of a walk get consecutive numbers and live here in a
    list indexed by wd.  A wd that does not fit (the counter ran ahead after many mkdir/rmdir)
    goes to a small dict; the list only grows while it stays within twice the live watches,
    so a long-running daemon cannot bloat it.  Measured with bench/watch_bench.py (memory).
    Watcher.process() reads `low`/`high` directly: it runs once per kernel event.
    """

    def __init__(self):
        self.low = [None]          # wd 0 is never handed out
        self.high = {}
        self.count = 0

    def __getitem__(self, wd):
        low = self.low
        if 0 < wd < len(low):
            path = low[wd]
            if path is None:
                raise KeyError(wd)
            return path
        return self.high[wd]

    def get(self, wd, default=None):
        low = self.low
        if 0 < wd < len(low):
            path = low[wd]
            return default if path is None else path
        return self.high.get(wd, default)

    def __setitem__(self, wd, path):
        low, high = self.low, self.high
        if 0 < wd < len(low):
            if low[wd] is None:
                self.count += 1
            low[wd] = path
        elif wd == len(low) and wd <= 2 * self.count + 1024 and wd not in high:
            low.append(path)
            self.count += 1
        else:
            if wd not in high:
                self.count += 1
            high[wd] = path

    def __delitem__(self, wd):
        low = self.low
        if 0 < wd < len(low) and low[wd] is not None:
            low[wd] = None
        else:
            del self.high[wd]
        self.count -= 1

    def __iter__(self):
        for wd, path in enumerate(self.low):
            if path is not None:
                yield wd
        for wd in list(self.high):
            yield wd

    def __len__(self):
        return self.count

    def __contains__(self, wd):
        return self.get(wd) is not None


class Watcher(object):
    """inotify fd + a table wd -> directory path; `emit(Candidate)` receives every file to look at."""

    def __init__(self, patterns, rules, emit, settle_delay=5.0, sweep_interval=300,
                 clock=time.time, logger=None, walk_error=None, allow_root_links=()):
        self.patterns = tuple(patterns)
        self.allow_root_links = tuple(allow_root_links)
        self.rules = rules
        self.emit = emit
        self.settle_delay = settle_delay
        self.sweep_interval = sweep_interval
        self.clock = clock
        self.log = logger or logging.getLogger('newfilewatch.watcher')
        self.walk_error = walk_error          # callable(path, message) for the event stream
        self.ino = inotify.Inotify()
        self.paths = WatchTable()             # wd -> directory path: the only per-dir cost
        self.roots = Roots()
        self.root_links = {}                  # root that is a symlink -> the dir it resolved to
        self.links_checked = clock()          # when root_links were last confirmed
        self._relink = set()                  # link roots whose target went (DELETE/MOVE_SELF)
        self._refused_said = set()
        self._sweep_job = None                # the sweep in progress, run in slices by tick()
        self.last_slice = 0                   # units of sweep work done in the last slice
        self.created = {}                     # path -> time: created, not yet closed
        self._fresh = {}                      # paths created in the batch being processed
        self.moved_from = {}                  # cookie -> old dir path, resolved per batch
        self.unwatched = set()                # dirs left without a watch (limit reached)
        self.limit_hit = False
        self.overflow_since = None
        self.overflow_at = 0.0
        self.overflows = 0
        self.last_event = clock()
        self.next_sweep = clock() + sweep_interval
        self._errors = collections.Counter()
        self._error_example = {}
        self._leaf_ok = {}                    # st_dev -> trust st_nlink == 2 as "no subdirs"
        self.walk_floor = None                # while a walk hands on files changed since T: T

    # -- setup --------------------------------------------------------------------------------
    def fileno(self):
        return self.ino.fileno()

    def start(self, since=None):
        """Watch every root; with `since` (restart catch-up) also hand on files changed since then."""
        self.roots = Roots(self._expand())
        self.links_checked = self.clock()
        for pattern in self.patterns:
            if not glob.has_magic(pattern) and not os.path.isdir(pattern):
                self.log.warning('watch dir %s does not exist (yet); checked again every %ds',
                                 pattern, self.sweep_interval)
        if since is not None:
            since -= CTIME_SLACK
        for root in self.roots:
            self._walk(root, sweep=since is not None, since=since, reason='catch-up')
        self._report_walk_errors()
        return len(self.paths)

    def close(self):
        self.ino.close()

    def _expand(self):
        """expand_roots, saying once per (root, target) why a glob root's link was refused."""
        refused = []
        roots = expand_roots(self.patterns, self.allow_root_links, refused)
        self._say_refused(refused)
        return roots

    def _say_refused(self, refused):
        for match, target in refused:
            if (match, target) not in self._refused_said:
                self._refused_said.add((match, target))
                self.log.warning('watch root %s refused: a symlink to %s, outside the dir its '
                                 'glob names (add it to [watch] allow_root_links to watch it)',
                                 escape_name(match), escape_name(target))

    # -- the walk -----------------------------------------------------------------------------
    def _walk(self, top, sweep, since=None, reason='sweep', unwatched=None):
        """Watch `top` and every dir below it not pruned; when sweeping, hand on its files.

        Out of watches, a dir is normally left for the periodic sweep (recorded in
        self.unwatched, not descended).  The sweep itself passes a list as `unwatched`: then
        it descends anyway, to hand on the files, and collects the dirs still without a watch.
        """
        for _ in self._walking(top, sweep, since, reason, unwatched):
            pass

    def _walking(self, top, sweep, since=None, reason='sweep', unwatched=None):
        """_walk as a generator: yields after each file handed on, so a sweep can pause."""
        def enter(path, inode):
            added = self._watch(path, inode)
            if added is None:                  # no watch left
                if unwatched is not None:
                    unwatched.append(path)
                    return True
                self.unwatched.add(path)
                return False
            return added
        for path, entry in walk(top, self.rules, enter, self._walk_failed, files=sweep):
            if since is not None:
                try:
                    if entry.stat(follow_symlinks=False).st_ctime < since:
                        continue
                except OSError:
                    continue
            self.walk_floor = since           # the pipeline's floor for this (maybe old) file
            try:
                self.emit(Candidate(path, True, reason))
            finally:
                self.walk_floor = None
            yield

    def _watch(self, path, inode):
        """Add (or refresh) the watch of one dir: True, False (do not enter), None (limit)."""
        if self.limit_hit:
            return None                        # no point asking the kernel again this walk
        # A configured root may be an admin's symlink (/var/www/html -> /srv/www): follow it.
        # Below the roots, never: a dir swapped for a link must not lead out of the tree.
        mask = ROOT_MASK if inode is None and path in self.roots else DIR_MASK
        try:
            wd = self.ino.add_watch(path, mask)
        except inotify.WatchLimitReached:
            self.log.error(
                'inotify watch limit reached at %d watches (fs.inotify.max_user_watches): '
                'dirs from %s on are swept every %ds instead of watched. Raise the limit with '
                '`newfilewatch tune-sysctl` (sets 524288) and reload.',
                len(self.paths), escape_name(path), self.sweep_interval)
            self.limit_hit = True
            return None
        except OSError as exc:
            self._walk_failed(path, exc)
            return False
        st = self._same_dir(path, inode) if inode is not None else None
        if st is False:
            self.ino.rm_watch(wd)
            self.paths.pop(wd, None)
            return False
        self.paths[wd] = path
        if inode is None and path in self.roots and os.path.islink(path):
            self.root_links[path] = os.path.realpath(path)
        # The stat that guards against a swap also tells, on filesystems that count subdirs
        # in st_nlink, that a dir has none: the walk then skips listing it (5 syscalls; most
        # dirs of a web tree are leaves).  Safe against races: the watch is added before the
        # stat, so a subdir made after the stat arrives as IN_CREATE|IN_ISDIR.
        if st is not None and st.st_nlink == 2 and self._trusts_nlink(st.st_dev):
            return LEAF
        return True

    def _trusts_nlink(self, dev):
        ok = self._leaf_ok.get(dev)
        if ok is None:
            fstype = _read_mount_types().get((os.major(dev), os.minor(dev)))
            ok = self._leaf_ok[dev] = fstype in NLINK_COUNTS_SUBDIRS
        return ok

    def _same_dir(self, path, inode):
        """Guard against a dir swapped for a symlink between listing and watching: its stat
        result, or False.

        The path may then resolve outside the roots; the inode seen in the listing tells.
        """
        try:
            st = os.stat(path)
        except OSError:
            return False
        if st.st_ino == inode:
            return st
        real = os.path.realpath(path)             # slow path: mount points also differ here
        if any(under(real, os.path.realpath(r)) for r in self.roots):
            return st
        self._walk_failed(path, OSError(errno.ELOOP, 'replaced by a link out of the watched roots'))
        return False

    def _walk_failed(self, path, exc):
        key = exc.strerror or str(exc)
        self._errors[key] += 1
        self._error_example.setdefault(key, path)

    def _report_walk_errors(self):
        for key, count in self._errors.items():
            example = self._error_example[key]
            self.log.warning('%d dir(s) not watched: %s (e.g. %s)', count, key,
                             escape_name(example))
            if self.walk_error:
                self.walk_error(example, '%d dir(s) not watched: %s' % (count, key))
        self._errors.clear()
        self._error_example.clear()

    # -- events -------------------------------------------------------------------------------
    def read(self, now=None):
        """Drain what the kernel has queued; returns the number of events handled."""
        events = self.ino.read()
        if events:
            self.process(events, self.clock() if now is None else now)
        return len(events)

    def process(self, events, now):
        """Turn one batch of kernel events into candidates.

        This loop runs once per kernel event and bounds how fast a burst drains (the kernel
        queue holds 16384 events by default; what it cannot hold costs a rescan).  So, measured
        with bench/watch_bench.py --parts reader:
        - the masks are module constants bound to locals, names decoded with one C call;
        - IN_CREATE of a file only notes the path: in a burst its IN_CLOSE_WRITE is nearly
          always in the same batch, and then neither the path rules (two regex matches) nor
          the lstat are needed for the create.  Paths still open at the end of the batch get
          the old treatment there (links, FIFOs and hard links handed on at once, regular
          files wait for their close or the settle delay).
        """
        paths, wants, emit, fresh = self.paths, self.rules.wants_file, self.emit, self._fresh
        low, high, decode = paths.low, paths.high, _decode
        for wd, mask, cookie, name in events:
            if mask & _OVERFLOW:
                self._overflowed(now)
                continue
            directory = low[wd] if 0 < wd < len(low) else high.get(wd)   # WatchTable.get
            if directory is None:
                continue
            if mask & _IGNORED:
                del paths[wd]
                if directory in self.roots:      # the root itself went: the sweep re-adds it
                    self.roots.remove(directory)
                    if directory in self.root_links:     # its link may point elsewhere now
                        self._relink.add(directory)
                continue
            if not name:
                if mask & _MOVE_SELF and directory in self.roots:
                    self.log.warning('watch root %s was moved away; watched again when it is '
                                     'back (checked every %ds)', escape_name(directory), self.sweep_interval)
                    self.roots.remove(directory)
                    self.moved_from[('root', wd)] = directory
                    if directory in self.root_links:
                        self._relink.add(directory)
                continue
            name = decode(name, _FS_ENCODING, _FS_ERRORS)
            path = directory + '/' + name if directory[-1] != '/' else directory + name
            if mask & _ISDIR:
                self._dir_event(path, mask, cookie)
            elif mask & _TAKEN:
                if fresh:
                    fresh.pop(path, None)
                if wants(path):
                    self.created.pop(path, None)
                    emit(Candidate(path, False, 'moved_to' if mask & _MOVED_TO
                                   else 'close_write'))
            elif mask & _CREATE:
                fresh[path] = None
        self.last_event = now
        if fresh:
            self._fresh = {}
            for path in fresh:
                if wants(path):
                    self._file_created(path, now)
        if self.moved_from:
            self._drop_moved_out()
        if self._relink:
            relink, self._relink = self._relink, set()
            expanded = set(self._expand())          # is where it leads now still allowed?
            for root in relink:
                self._follow_link(root, self.links_checked - CTIME_SLACK, root in expanded)
        if self._errors:
            self._report_walk_errors()

    def _dir_event(self, path, mask, cookie):
        if mask & inotify.IN_MOVED_FROM:
            self.moved_from[cookie] = path
        elif mask & (inotify.IN_CREATE | inotify.IN_MOVED_TO):
            if self.rules.prunes_dir(path):
                return
            # a dir moved within the watched tree keeps its files, already seen: re-path only
            within = bool(mask & inotify.IN_MOVED_TO) and cookie in self.moved_from
            self._walk(path, sweep=not within, reason='new dir')

    def _drop_moved_out(self):
        """Forget watches still filed under a dir's old name after it moved (out, or re-pathed)."""
        old = set(self.moved_from.values())
        self.moved_from.clear()
        below = tuple(o.rstrip('/') + '/' for o in old)     # one C-level test per watch
        stale = [wd for wd, p in self.paths.items() if p in old or p.startswith(below)]
        for wd in stale:
            self.ino.rm_watch(wd)
            del self.paths[wd]
        if stale:
            self.log.debug('dropped %d watch(es) of dirs moved out of the watched tree', len(stale))

    def _file_created(self, path, now):
        """Regular files wait for IN_CLOSE_WRITE; links and special files never get one."""
        try:
            st = os.lstat(path)
        except OSError:
            return
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            self.created[path] = now
        else:
            self.emit(Candidate(path, False, 'created'))

    def _overflowed(self, now):
        self.overflows += 1
        since = self.last_event - CTIME_SLACK
        self.overflow_since = since if self.overflow_since is None else min(since, self.overflow_since)
        self.overflow_at = now
        self.log.warning('inotify queue overflowed (fs.inotify.max_queued_events): events lost, '
                         'rescanning files changed since %s', time.strftime(
                             '%H:%M:%S', time.localtime(self.overflow_since)))

    # -- timers -------------------------------------------------------------------------------
    def next_deadline(self):
        """Seconds-since-epoch of the next timer due (settle, rescan, sweep)."""
        due = [self.next_sweep]
        if self._sweep_job is not None:
            due.append(self.clock())               # a sweep in progress: its next slice now
        if self.created:
            due.append(min(self.created.values()) + self.settle_delay)
        if self.overflow_since is not None:
            due.append(self.overflow_at + OVERFLOW_QUIET)
        return min(due)

    def tick(self, now):
        if self.created:
            ripe = [p for p, t in self.created.items() if now - t >= self.settle_delay]
            for path in ripe:
                del self.created[path]
                self.emit(Candidate(path, True, 'settle'))
        if self.overflow_since is not None and now - self.overflow_at >= OVERFLOW_QUIET:
            since, self.overflow_since = self.overflow_since, None
            self.rescan(since, reason='overflow')
        if self._sweep_job is None and now >= self.next_sweep:
            self._sweep_job = self._sweeping(now)
        if self._sweep_job is not None:
            self._sweep_slice()

    def _sweep_slice(self):
        """At most SWEEP_STEPS units or SWEEP_SLICE seconds of the sweep, then back to the
        loop: 10,000 glob roots must not keep the inotify queue unread for seconds."""
        deadline = self.clock() + SWEEP_SLICE
        steps = 0
        for _ in self._sweep_job:
            steps += 1
            if steps >= SWEEP_STEPS or (steps % 16 == 0 and self.clock() >= deadline):
                self.last_slice = steps
                return False
        self.last_slice = steps
        self._sweep_job = None
        return True

    def rescan(self, since, reason='rescan'):
        """Re-walk every root: re-add missing watches, hand on files changed since `since`."""
        self.limit_hit = False
        for root in self.roots:
            self._walk(root, sweep=True, since=since, reason=reason)
        self._report_walk_errors()

    def sweep(self, now):
        """Periodic: pick up new roots (globs), follow re-pointed root links, sweep dirs that
        have no watch.  Here all at once; tick() runs the same work in slices."""
        for _ in self._sweeping(now):
            pass
        self._sweep_job = None

    def _sweeping(self, now):
        """The sweep as a generator: one yield per unit of work (a root, a file handed on)."""
        since = self.next_sweep - self.sweep_interval - CTIME_SLACK
        self.next_sweep = now + self.sweep_interval
        self.limit_hit = False
        found, refused = set(), []
        for pattern in self.patterns:          # glob.iglob: thousands of roots, in slices
            for match in root_matches(pattern, self.allow_root_links, refused):
                found.add(match)
                yield
        self._say_refused(refused)
        current = drop_nested(found)
        yield
        expanded = set(current)
        for root in sorted(self.root_links):
            # a link re-pointed (ln -sfn): watch the new target; one re-pointed out of the
            # dir its glob names is no longer in the expansion: dropped
            for _ in self._following(root, since, root in expanded):
                yield
        self.links_checked = now
        for root in current:
            if root not in self.roots:
                self.log.info('new watch root %s', escape_name(root))
                self.roots.append(root)
                for _ in self._walking(root, sweep=True, reason='new root'):
                    yield
            yield
        for path in sorted(self.unwatched):
            self.unwatched.discard(path)
            still = []
            for _ in self._walking(path, sweep=True, since=since, reason='unwatched sweep',
                                   unwatched=still):
                yield
            if still:
                self.unwatched.add(path)
            yield
        self._report_walk_errors()

    def _follow_link(self, root, since, allowed=True):
        for _ in self._following(root, since, allowed):
            pass

    def _following(self, root, since, allowed=True):
        """Re-resolve a root that is a symlink; when it points elsewhere (or nowhere), drop the
        old target's watches and watch the new one, handing on files changed since `since`."""
        old = self.root_links.get(root)
        new = os.path.realpath(root) if allowed and os.path.isdir(root) else None
        if new is not None and new == old and root in self.roots:
            return
        self._drop_under(root)
        if root in self.roots:
            self.roots.remove(root)
        self.root_links.pop(root, None)
        if new is None:
            self.log.warning('watch root %s (a symlink) no longer leads to a dir it may watch; '
                             'checked again every %ds', escape_name(root), self.sweep_interval)
            return
        self.log.info('watch root %s now leads to %s: watching it', escape_name(root),
                      escape_name(new))
        self.roots.append(root)
        for _ in self._walking(root, sweep=True, since=since, reason='root re-pointed'):
            yield
        self._report_walk_errors()

    def _drop_under(self, root):
        below = root.rstrip('/') + '/'
        stale = [wd for wd, p in self.paths.items() if p == root or p.startswith(below)]
        for wd in stale:
            self.ino.rm_watch(wd)
            del self.paths[wd]

    def reconfigure(self, patterns, rules):
        """Apply new roots/excludes without a gap: watch the new set, then drop what is left over."""
        self.patterns, self.rules = tuple(patterns), rules
        before = dict(self.paths)
        self.paths = WatchTable()
        self.unwatched = set()
        self.limit_hit = False
        self._sweep_job = None
        self.root_links = {}
        self.roots = Roots(self._expand())
        for root in self.roots:
            self._walk(root, sweep=False)
        for wd in set(before) - set(self.paths):
            self.ino.rm_watch(wd)
        self._report_walk_errors()
        return len(self.paths)
