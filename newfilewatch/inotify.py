"""The inotify file descriptor: add/remove watches and read events as plain tuples.

pyinotify supplies the libc binding and the event-mask constants; this module replaces the two
pyinotify paths that do not hold up on a hosting server, and says why:
- `Notifier.read_events()` decodes names as UTF-8 and raises UnicodeDecodeError on any other
  byte, losing the rest of the batch; it also costs 17-19 us of Python per event.  Here names
  stay bytes until `os.fsdecode` (surrogateescape), which never fails and round-trips.
- `WatchManager` keeps a Watch object (~376 B) per directory and encodes paths with the strict
  filesystem codec.  The watcher keeps one dict entry per directory instead.
The binding is reached through pyinotify's own factory so that EL's python3-inotify is what runs.
"""
import ctypes
import errno
import os
import struct
import sys

import pyinotify

IN_ACCESS = pyinotify.IN_ACCESS
IN_MODIFY = pyinotify.IN_MODIFY
IN_CLOSE_WRITE = pyinotify.IN_CLOSE_WRITE
IN_MOVED_FROM = pyinotify.IN_MOVED_FROM
IN_MOVED_TO = pyinotify.IN_MOVED_TO
IN_CREATE = pyinotify.IN_CREATE
IN_DELETE = pyinotify.IN_DELETE
IN_DELETE_SELF = pyinotify.IN_DELETE_SELF
IN_MOVE_SELF = pyinotify.IN_MOVE_SELF
IN_UNMOUNT = pyinotify.IN_UNMOUNT
IN_Q_OVERFLOW = pyinotify.IN_Q_OVERFLOW
IN_IGNORED = pyinotify.IN_IGNORED
IN_ONLYDIR = pyinotify.IN_ONLYDIR
IN_DONT_FOLLOW = pyinotify.IN_DONT_FOLLOW
IN_ISDIR = pyinotify.IN_ISDIR
IN_EXCL_UNLINK = 0x04000000          # not in pyinotify 0.9.x; stable kernel ABI since 2.6.36

_HEADER = struct.Struct('iIII')      # struct inotify_event: wd, mask, cookie, len
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = getattr(os, 'O_CLOEXEC', 0o2000000)
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


class WatchLimitReached(OSError):
    """ENOSPC from inotify_add_watch: fs.inotify.max_user_watches is exhausted."""


def _libc():
    wrapper = pyinotify.INotifyWrapper.create()
    libc = getattr(wrapper, '_libc', None)
    if libc is None:                 # no ctypes binding (pyinotify's C extension build)
        libc = ctypes.CDLL(None, use_errno=True)
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    if hasattr(libc, 'inotify_init1'):
        libc.inotify_init1.argtypes = [ctypes.c_int]
    return libc


class Inotify(object):
    """One inotify instance; paths are str (surrogateescape) or bytes, never re-encoded strictly."""

    def __init__(self):
        self._libc = _libc()
        if hasattr(self._libc, 'inotify_init1'):
            fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        else:
            fd = self._libc.inotify_init()
        if fd < 0:
            err = ctypes.get_errno()
            hint = ' (fs.inotify.max_user_instances reached)' if err == errno.EMFILE else ''
            raise OSError(err, 'inotify_init failed: %s%s' % (os.strerror(err), hint))
        os.set_blocking(fd, False)
        self.fd = fd
        self._add = self._libc.inotify_add_watch
        self._rm = self._libc.inotify_rm_watch

    def fileno(self):
        return self.fd

    def add_watch(self, path, mask):
        """Return the wd.  Raises WatchLimitReached on ENOSPC, OSError otherwise."""
        # os.fsencode without its two Python calls: this runs once per dir of the setup walk
        raw = path if isinstance(path, bytes) else path.encode(_FS_ENCODING, _FS_ERRORS)
        wd = self._add(self.fd, raw, mask)
        if wd < 0:
            err = ctypes.get_errno()
            if err == errno.ENOSPC:
                raise WatchLimitReached(err, 'inotify watch limit reached '
                                        '(fs.inotify.max_user_watches)', path)
            raise OSError(err, os.strerror(err), path)
        return wd

    def rm_watch(self, wd):
        self._rm(self.fd, wd)        # EINVAL when the kernel already dropped it: nothing to do

    def read(self, size=1 << 18):
        """Return the events now queued as a list of (wd, mask, cookie, name_bytes)."""
        try:
            buf = os.read(self.fd, size)
        except BlockingIOError:
            return []
        except OSError as exc:
            if exc.errno == errno.EINTR:
                return []
            raise
        return parse(buf)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def parse(buf):
    """Split a buffer read from an inotify fd into (wd, mask, cookie, name) tuples."""
    events, pos, end, unpack, size = [], 0, len(buf), _HEADER.unpack_from, _HEADER.size
    while pos + size <= end:
        wd, mask, cookie, length = unpack(buf, pos)
        pos += size
        name = buf[pos:pos + length].rstrip(b'\0') if length else b''
        pos += length
        events.append((wd, mask, cookie, name))
    return events
