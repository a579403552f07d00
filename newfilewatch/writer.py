"""Who wrote a file: the pid a fanotify event carries, turned into comm, user and PHP-FPM pool.

Read from /proc/PID as soon as the event is read, because the writer may exit a moment later
(a PHP request, an FTP upload, a cron job); what cannot be read any more is 'unknown'.  The
kernel's comm and a process's cmdline are chosen by whoever runs it, so they are raw text here
and escaped (escape.escape_name) wherever they are shown.  inotify names no writer: its
candidates carry None, and the text for None says so.

One burst of uploads comes from one process: a lookup is kept for a second, so 100k files
cost a handful of /proc reads, not 300k.
"""
import collections
import pwd
import re

from newfilewatch.escape import escape_name
from newfilewatch.model import Writer

UNKNOWN = 'unknown'
NO_WRITER = 'none (inotify events and sweeps do not name it)'
_POOL = re.compile(rb'^php-fpm[^:\x00]*: pool (\S+)')
CACHE_SECONDS = 1.0
CACHE_SIZE = 1024


def pool_of(cmdline):
    """The PHP-FPM pool named in a worker's /proc/PID/cmdline (`php-fpm: pool NAME`), or ''.

    PHP-FPM overwrites its argv with that title, padded with NULs or spaces; pure, for tests.
    """
    match = _POOL.match(cmdline.split(b'\0', 1)[0].strip())
    return match.group(1).decode('utf-8', 'surrogateescape') if match else ''


def effective_uid(status_text):
    """The effective uid in /proc/PID/status text (the second number of `Uid:`), or -1."""
    for line in status_text.splitlines():
        if line.startswith('Uid:'):
            fields = line.split()
            if len(fields) > 2 and fields[2].isdigit():
                return int(fields[2])
    return -1


def _read(path):
    with open(path, 'rb') as fh:
        return fh.read(4096)


def user_name(uid, _names={}):
    if uid < 0:
        return UNKNOWN
    name = _names.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        if len(_names) < 4096:
            _names[uid] = name
    return name


def from_proc(pid, proc='/proc'):
    """A Writer for `pid` as /proc shows it now; comm 'unknown' when it is gone (or pid 0)."""
    if pid <= 0:
        return Writer(pid, UNKNOWN, -1, UNKNOWN, '')
    base = '%s/%d/' % (proc, pid)
    try:
        comm = _read(base + 'comm')
        comm = (comm[:-1] if comm.endswith(b'\n') else comm).decode('utf-8', 'surrogateescape')
        uid = effective_uid(_read(base + 'status').decode('utf-8', 'replace'))
        cmdline = _read(base + 'cmdline')
    except (OSError, IOError):
        return Writer(pid, UNKNOWN, -1, UNKNOWN, '')
    return Writer(pid, comm, uid, user_name(uid), pool_of(cmdline))


class Writers(object):
    """pid -> Writer, each kept CACHE_SECONDS (a pid is not reused that fast)."""

    def __init__(self, proc='/proc'):
        self.proc = proc
        self._cache = collections.OrderedDict()

    def get(self, pid, now):
        hit = self._cache.get(pid)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        writer = from_proc(pid, self.proc)
        self._cache[pid] = (now, writer)
        self._cache.move_to_end(pid)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return writer


def describe(writer):
    """One line of escaped text: `pid 123 php-fpm8.2 uid 1001 (alice) pool alice`."""
    if writer is None:
        return NO_WRITER
    if writer.comm == UNKNOWN and writer.uid < 0:
        return 'unknown (pid %d, already gone)' % writer.pid if writer.pid > 0 else UNKNOWN
    text = 'pid %d %s uid %d (%s)' % (writer.pid, escape_name(writer.comm), writer.uid,
                                     escape_name(writer.user))
    if writer.pool:
        text += ' pool %s' % escape_name(writer.pool)
    return text


def as_json(writer):
    """The event stream's `writer` value: an object with escaped text, or the string for None."""
    if writer is None:
        return NO_WRITER
    return {'pid': writer.pid, 'comm': escape_name(writer.comm), 'uid': writer.uid,
            'user': escape_name(writer.user), 'pool': escape_name(writer.pool)}
