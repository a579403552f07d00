"""The fanotify syscalls through ctypes, and the event records they read, as plain tuples.

No binding that is maintained runs on Python 3.6 (pyfanotify is a source-only C extension, and
a noarch package cannot carry one), and the standard library wraps neither fanotify(7) nor
open_by_handle_at(2), so the five calls are reached through ctypes here.  What can be pure is:
`parse()` turns the bytes read from a group's fd into tuples and is tested with bytes built by
hand.  Layouts (include/uapi/linux/fanotify.h, fcntl.h):

    struct fanotify_event_metadata { u32 event_len; u8 vers; u8 reserved; u16 metadata_len;
                                     u64 mask; s32 fd; s32 pid; }             24 bytes
    then, for a group with FAN_REPORT_DFID_NAME | FAN_REPORT_FID, info records:
    struct fanotify_event_info_header { u8 info_type; u8 pad; u16 len; }
    struct fanotify_event_info_fid { header; __kernel_fsid_t fsid (2 x s32);
                                     struct file_handle { u32 handle_bytes; s32 handle_type;
                                                          u8 f_handle[handle_bytes]; } }
    + for FAN_EVENT_INFO_TYPE_DFID_NAME the entry name, NUL-terminated, padded to 4 bytes.

A record's bytes from fsid to the end of the handle are used as the key of a directory: equal
keys are the same directory, and key[8:] is exactly the `struct file_handle` that
open_by_handle_at() takes, so nothing is copied into a ctypes structure per event.
"""
import ctypes
import errno
import os
import struct

# fanotify_init flags
FAN_CLOEXEC = 0x01
FAN_NONBLOCK = 0x02
FAN_CLASS_NOTIF = 0x00
FAN_UNLIMITED_QUEUE = 0x10
FAN_REPORT_TID = 0x100
FAN_REPORT_FID = 0x200
FAN_REPORT_DIR_FID = 0x400
FAN_REPORT_NAME = 0x800
FAN_REPORT_DFID_NAME = FAN_REPORT_DIR_FID | FAN_REPORT_NAME

# fanotify_mark flags
FAN_MARK_ADD = 0x01
FAN_MARK_REMOVE = 0x02
FAN_MARK_FILESYSTEM = 0x100

# event bits
FAN_CLOSE_WRITE = 0x08
FAN_MOVED_FROM = 0x40
FAN_MOVED_TO = 0x80
FAN_CREATE = 0x100
FAN_DELETE = 0x200
FAN_Q_OVERFLOW = 0x4000
FAN_EVENT_ON_CHILD = 0x08000000
FAN_ONDIR = 0x40000000

FAN_NOFD = -1
METADATA_VERSION = 3
INFO_FID, INFO_DFID_NAME, INFO_DFID = 1, 2, 3

METADATA = struct.Struct('=IBBHQii')
_INFO_HEADER = struct.Struct('=BBH')
_U32 = struct.Struct('=I')
_FID_HEAD = 4 + 8 + 8          # info header, fsid, handle_bytes + handle_type
MAX_HANDLE_SZ = 128
AT_FDCWD = -100

# What each refusal means for an admin, for the one log line that says why inotify runs.
REFUSALS = {
    errno.ENOSYS: 'the kernel has no fanotify',
    errno.EINVAL: 'the kernel lacks FAN_REPORT_DFID_NAME / FAN_MARK_FILESYSTEM (Linux 5.9+)',
    errno.EPERM: 'not permitted (fanotify marks need root, CAP_SYS_ADMIN)',
    errno.ENODEV: 'the filesystem has no fsid',
    errno.EXDEV: 'the filesystem (a subvolume?) reports another fsid than its superblock',
    errno.EOPNOTSUPP: 'the filesystem cannot encode file handles',
    errno.ESTALE: 'the filesystem cannot decode its file handles',
}


def refusal(exc):
    """The admin's words for an OSError from fanotify_init/fanotify_mark/the handle probe."""
    return '%s (%s)' % (REFUSALS.get(exc.errno, exc.strerror or str(exc)),
                        errno.errorcode.get(exc.errno, exc.errno))


def parse(buf):
    """Split what was read from a group's fd into (mask, pid, dir_key, name, child_key, fd).

    dir_key: bytes (fsid + file_handle) of the directory the event names an entry of, or None;
    name: the entry name as bytes (b'.' for an event on a directory itself), or None;
    child_key: the same for the object itself (FAN_REPORT_FID), or None;
    fd: what the kernel put in the metadata (FAN_NOFD for fid groups; the caller closes others).
    A truncated tail is ignored (the kernel never splits an event over two reads).
    """
    events, pos, end = [], 0, len(buf)
    unpack, head, u32 = METADATA.unpack_from, _INFO_HEADER.unpack_from, _U32.unpack_from
    while pos + 24 <= end:
        event_len, vers, _, meta_len, mask, fd, pid = unpack(buf, pos)
        stop = pos + event_len
        if event_len < 24 or stop > end:
            break
        if vers != METADATA_VERSION:
            raise ValueError('fanotify metadata version %d, expected %d' % (vers, METADATA_VERSION))
        dir_key = name = child = None
        rec = pos + meta_len
        while rec + 4 <= stop:
            kind, _, length = head(buf, rec)
            if length < 4 or rec + length > stop:
                break
            if kind in (INFO_DFID_NAME, INFO_DFID, INFO_FID) and length >= _FID_HEAD:
                handle_end = rec + _FID_HEAD + u32(buf, rec + 12)[0]
                key = buf[rec + 4:handle_end]
                if kind == INFO_FID:
                    child = key
                else:
                    dir_key = key
                    if kind == INFO_DFID_NAME:
                        nul = buf.find(b'\0', handle_end, rec + length)
                        name = buf[handle_end:nul if nul >= 0 else rec + length]
            rec += length
        events.append((mask, pid, dir_key, name, child, fd))
        pos = stop
    return events


def build_event(mask, pid, records=(), fd=FAN_NOFD):
    """Bytes of one event as the kernel lays them out; for tests of parse() and the watcher.

    `records` holds (info_type, fsid_bytes8, handle_type, handle_bytes, name_or_None).
    """
    body = b''
    for kind, fsid, handle_type, handle, name in records:
        rec = fsid + struct.pack('=Ii', len(handle), handle_type) + handle
        if name is not None:
            rec += name + b'\0'
        rec += b'\0' * (-(len(rec) + 4) % 4)
        body += _INFO_HEADER.pack(kind, 0, len(rec) + 4) + rec
    return METADATA.pack(24 + len(body), METADATA_VERSION, 0, 24, mask, fd, pid) + body


# --- the thin shell over the syscalls ------------------------------------------------------

_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        libc = ctypes.CDLL(None, use_errno=True)
        for name, args in (('fanotify_init', [ctypes.c_uint, ctypes.c_uint]),
                           ('fanotify_mark', [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64,
                                              ctypes.c_int, ctypes.c_char_p]),
                           ('open_by_handle_at', [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]),
                           ('name_to_handle_at', [ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                                                  ctypes.POINTER(ctypes.c_int), ctypes.c_int]),
                           ('fstatfs', [ctypes.c_int, ctypes.c_char_p])):
            func = getattr(libc, name, None)
            if func is not None:
                func.argtypes = args
                func.restype = ctypes.c_int
        _LIBC = libc
    return _LIBC


def _call(name, *args):
    func = getattr(_libc(), name, None)
    if func is None:                      # a libc from before the call existed
        raise OSError(errno.ENOSYS, '%s: not in this libc' % name)
    result = func(*args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, '%s: %s' % (name, os.strerror(err)))
    return result


def _raw(path):
    return path if isinstance(path, bytes) else os.fsencode(path)


def fsid(fd):
    """The filesystem id fanotify reports for objects on the filesystem of `fd` (8 raw bytes).

    It is statfs()'s f_fsid.  os.statvfs has f_fsid only from 3.7, folded into one number, so
    fstatfs is called directly: struct statfs is 7 longs, then the fsid (2 x int).
    """
    buf = ctypes.create_string_buffer(256)
    _call('fstatfs', fd, buf)
    offset = 7 * ctypes.sizeof(ctypes.c_long)
    return buf.raw[offset:offset + 8]


def name_to_handle(path, dirfd=AT_FDCWD, flags=0):
    """(file_handle bytes, mount_id) of `path`, as open_by_handle() takes them."""
    buf = ctypes.create_string_buffer(8 + MAX_HANDLE_SZ)
    struct.pack_into('=I', buf, 0, MAX_HANDLE_SZ)
    mount_id = ctypes.c_int(0)
    _call('name_to_handle_at', dirfd, _raw(path), buf, ctypes.byref(mount_id), flags)
    size = struct.unpack_from('=I', buf, 0)[0]
    return buf.raw[:8 + size], mount_id.value


def open_by_handle(mount_fd, handle, flags=os.O_PATH | os.O_CLOEXEC):
    """An fd for a file handle; needs CAP_DAC_READ_SEARCH.  ESTALE when the object is gone."""
    return _call('open_by_handle_at', mount_fd, handle, flags)


class Group(object):
    """One fanotify group (notification class, fid + dir fid + name records, non-blocking)."""

    FLAGS = FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_REPORT_FID | FAN_NONBLOCK | FAN_CLOEXEC

    def __init__(self, flags=None):
        self.fd = _call('fanotify_init', self.FLAGS if flags is None else flags,
                        os.O_RDONLY | getattr(os, 'O_LARGEFILE', 0))

    def fileno(self):
        return self.fd

    def mark_filesystem(self, path, mask, remove=False):
        """Add (or remove) the mark of the whole filesystem holding `path`; OSError if refused."""
        flags = (FAN_MARK_REMOVE if remove else FAN_MARK_ADD) | FAN_MARK_FILESYSTEM
        _call('fanotify_mark', self.fd, flags, mask, AT_FDCWD, _raw(path))

    def read(self, size=1 << 18):
        """The events queued now (see parse); [] when there are none."""
        try:
            buf = os.read(self.fd, size)
        except BlockingIOError:
            return []
        except OSError as exc:
            if exc.errno == errno.EINTR:
                return []
            raise
        events = parse(buf)
        for event in events:
            if event[5] >= 0:            # not for fid groups; never leak one if it happens
                os.close(event[5])
        return events

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
