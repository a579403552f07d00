"""Leave root for the service user while keeping the one right the watcher needs: reading.

A web host's document roots are often 0750/0640 and owned by each customer, so a plain
unprivileged user could neither watch nor scan them; full root would let a bug in the scanner
(which reads hostile files) write anywhere.  CAP_DAC_READ_SEARCH is the middle ground: it
bypasses read and search permission checks only, never write.

How (Linux capabilities(7)): as root, reset the supplementary groups to the target user's own,
set PR_SET_KEEPCAPS so that setuid() keeps the permitted set, let setgid()/setuid() happen
(DaemonContext does them), then shrink the bounding, permitted and effective sets to
CAP_DAC_READ_SEARCH alone and clear PR_SET_KEEPCAPS again.

None of our dependencies (python-daemon, lockfile, the standard library) wraps capset(2) or
PR_CAPBSET_DROP, and python-prctl is not packaged for EL, so the two syscalls are called
through ctypes here.  Everything that can be pure (masks, decoding /proc lines) is.
"""
import collections
import ctypes
import ctypes.util
import errno
import os
import pwd
import stat

from newfilewatch import safefile

CAP_DAC_READ_SEARCH = 2
CAP_SETPCAP = 8

PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522   # 64-bit sets, two 32-bit data structs

Target = collections.namedtuple('Target', 'name uid gid home')


class PrivilegeError(Exception):
    """The drop cannot happen at all (unknown user, setgroups refused): the daemon must not start."""


def cap_mask(*caps):
    """Bit mask of capability numbers, as shown in /proc/PID/status (CapEff: %016x)."""
    mask = 0
    for cap in caps:
        mask |= 1 << cap
    return mask


def parse_status(text):
    """The credential lines of /proc/PID/status as values: uids, gids, groups, cap masks."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(':')
        value = value.strip()
        if key in ('Uid', 'Gid'):
            out[key] = tuple(int(v) for v in value.split())
        elif key == 'Groups':
            out[key] = tuple(int(v) for v in value.split())
        elif key.startswith('Cap'):
            out[key] = int(value, 16)
    return out


def lookup(user):
    """The passwd entry of `user` (name or numeric uid) as a Target, or PrivilegeError."""
    try:
        entry = pwd.getpwuid(int(user)) if str(user).isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise PrivilegeError('user %r does not exist (create it, or set [daemon] user)' % (user,))
    return Target(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def writable_by(st, uid, gids):
    """Pure: may `uid` (with groups `gids`) create files in a dir with stat result `st`?"""
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & 0o200)
    if st.st_gid in gids:
        return bool(st.st_mode & 0o020)
    return bool(st.st_mode & 0o002)


def _groups(target):
    try:
        return set(os.getgrouplist(target.name, target.gid))
    except (OSError, KeyError):
        return {target.gid}


OWN_DIR_NAME = 'newfilewatch'     # a dir with this component in its path is the service's own


def own_dir(path):
    """Pure: is `path` the service's own dir (/var/log/newfilewatch, /var/lib/newfilewatch/spool),
    which root may give to the service user, rather than a shared one such as /var/log?"""
    return OWN_DIR_NAME in path.split('/')


def prepare_dirs(dirs, target, mode=0o750):
    """Create the missing run/log/state dirs and give them to `target`; check the existing ones.

    `dirs` holds paths or (path, mode) pairs; `target` None (not root) creates without chown.
    Every step is relative to an fd opened with O_NOFOLLOW (safefile.open_dir): a dir swapped
    for a symlink between mkdir and chown is noticed, never followed, so root cannot be made to
    chown or chmod a file elsewhere.  What we create we fchmod/fchown on its own fd.

    Raises PrivilegeError when a dir is not what it must be: a symlink that root did not make,
    not a dir, owned by someone other than root or `target`, or not writable by `target`
    (an admin's root-owned dir is never taken over silently: the reason goes to the console).
    Only the service's own dirs (own_dir) that root left behind (an old root run made them) are
    fchown'd to `target` on the fd the walk opened.
    Returns the directories created.
    """
    created = []
    gids = _groups(target) if target is not None else set()
    for path in dirs:
        path, dir_mode = path if isinstance(path, tuple) else (path, mode)
        if not path:
            continue
        path = os.path.abspath(path)
        made = []

        def make(parent_fd, name):
            os.mkdir(name, dir_mode, dir_fd=parent_fd)
            fd = os.open(name, safefile.NOFOLLOW_DIR, dir_fd=parent_fd)
            try:
                st = os.fstat(fd)
                if st.st_uid != os.geteuid():       # swapped between mkdir and open
                    raise PrivilegeError('%s: %s changed while it was being created' % (path, name))
                os.fchmod(fd, dir_mode)             # mkdir's mode is cut by the umask
                if target is not None:
                    os.fchown(fd, target.uid, target.gid)
            finally:
                os.close(fd)
            made.append(name)
        try:
            fd = safefile.open_dir(path, make)
        except safefile.UnsafePath as exc:
            raise PrivilegeError('service dir %s refused: %s' % (path, exc.strerror))
        except OSError as exc:
            raise PrivilegeError('cannot create service dir %s: %s' % (path, exc.strerror or exc))
        try:
            st = os.fstat(fd)
            if target is not None and st.st_uid == 0 and own_dir(path) and \
                    not writable_by(st, target.uid, gids):
                os.fchown(fd, target.uid, target.gid)       # left by a root run: the user's
                st = os.fstat(fd)
        finally:
            os.close(fd)
        if made:
            parts = path.rstrip('/').split('/')
            created.extend('/'.join(parts[:len(parts) - i]) or '/'
                           for i in reversed(range(len(made))))
        if target is not None:
            if st.st_uid not in (0, target.uid):
                raise PrivilegeError('service dir %s is owned by uid %d, neither root nor %s: '
                                     'refused' % (path, st.st_uid, target.name))
            if not writable_by(st, target.uid, gids):
                raise PrivilegeError('service dir %s is not writable by %s (owner uid %d, mode '
                                     '%04o): chown %s %s' % (path, target.name, st.st_uid,
                                                             st.st_mode & 0o7777, target.name, path))
    return created


def adopt_files(paths, target):
    """Give the service's own files (logs, state, spool) that root left behind to `target`.

    A `run --foreground` as root (before it dropped privileges too) left root-owned logs: the
    daemon then could not write them and said nothing.  Each file is opened relative to its
    dir without following a link or blocking, and fchown'd on that fd only when it is a plain
    file with one link owned by root, so a link or hard link planted there cannot make root
    chown anything else.  Raises PrivilegeError for what cannot be made usable; returns notes.
    """
    notes = []
    for path in paths:
        if not path:
            continue
        parent, name = os.path.split(os.path.abspath(path))
        try:
            dfd = safefile.open_dir(parent)
        except OSError:
            continue                                 # prepare_dirs already said why
        try:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY |
                             os.O_CLOEXEC, dir_fd=dfd)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    continue
                what = 'a symlink' if exc.errno == errno.ELOOP else exc.strerror
                raise PrivilegeError('%s is %s: the service writes there; remove it' % (path, what))
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    continue                     # a sub-spool (webhook, owners): its own files
                if not stat.S_ISREG(st.st_mode):
                    raise PrivilegeError('%s is not a regular file: the service writes there; '
                                         'remove it' % path)
                if st.st_uid == target.uid:
                    continue
                if st.st_uid != 0 or st.st_nlink != 1:
                    raise PrivilegeError('%s belongs to uid %d%s, not to %s: refused' % (
                        path, st.st_uid, ' (%d links)' % st.st_nlink if st.st_nlink > 1 else '',
                        target.name))
                os.fchown(fd, target.uid, target.gid)
                notes.append('gave %s (left by root) to %s' % (path, target.name))
            finally:
                os.close(fd)
        finally:
            os.close(dfd)
    return notes


# --- the thin shell over the two syscalls -------------------------------------------------

class _CapHeader(ctypes.Structure):
    _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [('effective', ctypes.c_uint32), ('permitted', ctypes.c_uint32),
                ('inheritable', ctypes.c_uint32)]


_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
    return _LIBC


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, '%s: %s' % (what, os.strerror(err)))


def prctl(option, arg):
    _check(_libc().prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                         ctypes.c_ulong(0)), 'prctl(%d)' % option)


def capget():
    """(effective, permitted, inheritable) masks of this thread."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc().capget(ctypes.byref(header), data), 'capget')
    join = lambda field: getattr(data[0], field) | (getattr(data[1], field) << 32)
    return join('effective'), join('permitted'), join('inheritable')


def capset(effective, permitted, inheritable=0):
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xffffffff
        data[i].permitted = (permitted >> shift) & 0xffffffff
        data[i].inheritable = (inheritable >> shift) & 0xffffffff
    _check(_libc().capset(ctypes.byref(header), data), 'capset')


def _last_cap():
    try:
        with open('/proc/sys/kernel/cap_last_cap') as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 40


# --- the drop, in two halves around DaemonContext's setgid()/setuid() ----------------------

def begin_drop(target):
    """As root, before setgid/setuid: the user's own groups only, and keep caps over setuid."""
    try:
        os.setgroups([])
        os.initgroups(target.name, target.gid)
    except OSError as exc:
        raise PrivilegeError('cannot set the groups of %s: %s' % (target.name, exc.strerror))
    try:
        prctl(PR_SET_KEEPCAPS, 1)
        return []
    except OSError as exc:
        return ['cannot keep capabilities over setuid (%s): other users\' 0750 web dirs '
                'will be unreadable' % exc.strerror]


def finish_drop(keep=(CAP_DAC_READ_SEARCH,)):
    """After setuid to the user: keep only `keep`; returns notes to log (empty when all went well).

    Failure to keep the capability is not fatal: the daemon still runs, reading what the user can.
    """
    notes = []
    wanted = cap_mask(*keep)
    try:
        _, permitted, _ = capget()
        if permitted & cap_mask(CAP_SETPCAP):
            # Dropping from the bounding set needs CAP_SETPCAP in the effective set, briefly.
            capset(cap_mask(CAP_SETPCAP), permitted)
            for cap in range(_last_cap() + 1):
                if cap not in keep:
                    try:
                        prctl(PR_CAPBSET_DROP, cap)
                    except OSError as exc:
                        if exc.errno != errno.EINVAL:      # EINVAL: the kernel lacks that cap
                            raise
        capset(wanted & permitted, wanted & permitted)
        if not permitted & wanted:
            notes.append('capability CAP_DAC_READ_SEARCH was not kept: only files readable by '
                         'the daemon user can be scanned')
    except OSError as exc:
        notes.append('could not limit capabilities to CAP_DAC_READ_SEARCH (%s); '
                     'running without it' % exc)
        try:
            capset(0, 0)
        except OSError:
            pass
    try:
        prctl(PR_SET_KEEPCAPS, 0)
    except OSError:
        pass
    return notes


def drop_to(target):
    """The whole drop in one go, for a foreground run started as root; returns notes to log."""
    notes = begin_drop(target)
    os.setgid(target.gid)
    os.setuid(target.uid)
    return notes + finish_drop()
