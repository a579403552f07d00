"""Writing into directories someone else may control, without being led elsewhere by a link.

The daemon's log, state and spool dirs belong to the service user.  Whoever controls that user
(a compromised daemon) can plant a symlink, FIFO or hard link there and wait for root (the init
script, a `run --foreground`, the start-up preparation) to write, chown or read through it.
So every file the program writes is:
- reached by a directory walk that never follows a link it did not get from root
  (`open_dir`: one openat() per component; a symlink is followed only when it and the directory
  holding it belong to root, so /var/run -> /run still works and a planted link never does);
- created with O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable name, then renamed over the
  real name (`atomic_write`), or opened for append with O_NOFOLLOW|O_NONBLOCK and checked with
  fstat to be a regular file with one link (`open_append`).

Hand-written: the standard library's tempfile.mkstemp is O_EXCL but takes a path (a swapped
parent directory is followed), and no library we may depend on offers dir-fd-relative writes.
"""
import binascii
import errno
import logging.handlers
import os
import stat

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
NOFOLLOW_DIR = DIR_FLAGS | os.O_NOFOLLOW
MAX_LINKS = 40                    # as the kernel's own limit on links in one lookup


class UnsafePath(OSError):
    """A path component, or the file itself, is not what it must be (a planted link, a FIFO)."""


def _components(path):
    return [p for p in path.split('/') if p not in ('', '.')]


def _trusted_link(parent_fd, name):
    """The target of `name` when it is a symlink made by root in a root-owned dir, else None."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISLNK(st.st_mode) or st.st_uid != 0 or os.fstat(parent_fd).st_uid != 0:
        return None
    return os.readlink(name, dir_fd=parent_fd)


def open_dir(path, make=None):
    """An O_DIRECTORY fd for `path`, reached without following links that are not root's.

    `make(parent_fd, name)`, when given, is called for a missing component (it must create it);
    the walk then opens what it made with O_NOFOLLOW like any other component.
    Raises UnsafePath for a component that is a non-root symlink or not a directory.
    """
    todo = _components(os.path.abspath(path))
    fd = os.open('/', DIR_FLAGS)
    links = 0
    try:
        while todo:
            name = todo.pop(0)
            try:
                next_fd = os.open(name, NOFOLLOW_DIR, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ENOENT and make is not None:
                    make(fd, name)
                    todo.insert(0, name)
                    continue
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                target = _trusted_link(fd, name)
                links += 1
                if target is None or links > MAX_LINKS:
                    raise UnsafePath(exc.errno, '%s: %s is %s' % (
                        path, name, 'a symlink (not followed)' if _is_link(fd, name)
                        else 'not a directory'))
                if target.startswith('/'):
                    os.close(fd)
                    fd = os.open('/', DIR_FLAGS)
                todo[:0] = _components(target)
                continue
            os.close(fd)
            fd = next_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _is_link(parent_fd, name):
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def make_dirs(path, mode=0o750):
    """mkdir -p that never follows a planted link; returns the dirs it created."""
    created = []

    def make(parent_fd, name):
        try:
            os.mkdir(name, mode, dir_fd=parent_fd)
            created.append(name)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
    os.close(open_dir(path, make))
    return created


def temp_name(name):
    """A name nobody can guess in advance, so nobody can plant a link under it."""
    return '.%s.%s.tmp' % (name, binascii.hexlify(os.urandom(8)).decode('ascii'))


def is_temp_name(name):
    """True for a name temp_name() made (a write that never completed)."""
    return name.startswith('.') and name.endswith('.tmp') and len(name) > 22


def create_exclusive(dir_fd, name, mode=0o640):
    """A new file `name` in `dir_fd`, opened for writing; fails if anything is there already."""
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                   mode, dir_fd=dir_fd)


def atomic_write(path, data, mode=0o640, dir_fd=None):
    """Replace `path` with `data` (bytes) whole or not at all, whoever runs it.

    The temp file is created exclusively (never through a link) in the same directory, fsync'd,
    renamed over the target (rename replaces a link, it never writes through one), and the
    directory fsync'd so the rename survives a crash.  `dir_fd` (the directory already opened
    with open_dir) makes `path` a bare name inside it.
    """
    own_fd = dir_fd is None
    parent, name = os.path.split(path) if own_fd else ('', path)
    dfd = open_dir(parent or '.') if own_fd else dir_fd
    try:
        tmp = temp_name(name)
        fd = create_exclusive(dfd, tmp, mode)
        try:
            with os.fdopen(fd, 'wb') as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            raise
        try:
            os.fsync(dfd)
        except OSError:
            pass
    finally:
        if own_fd:
            os.close(dfd)


def check_regular(fd, path):
    """Refuse an fd that is not a regular file with a single link (a FIFO, a device, a hard
    link to someone else's file planted where root will write)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(errno.EINVAL, '%s is not a regular file' % path)
    if st.st_nlink > 1 and os.geteuid() == 0:
        raise UnsafePath(errno.EMLINK, '%s has %d hard links (not written as root)'
                         % (path, st.st_nlink))
    return st


def open_append(path, mode=0o640):
    """An fd appending to `path` (created if missing), never through a link, never blocking."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK |
                 os.O_CLOEXEC | os.O_NOCTTY, mode)
    try:
        check_regular(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_small(path, limit, dir_fd=None):
    """Up to `limit` bytes of a regular file, opened without following a link or blocking
    (a FIFO or /dev/zero planted at `path` is refused, not read)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY,
                 dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(errno.EINVAL, '%s is not a regular file' % path)
        return os.read(fd, limit)
    finally:
        os.close(fd)


class LogFileHandler(logging.handlers.WatchedFileHandler):
    """WatchedFileHandler whose file is opened with O_NOFOLLOW and checked to be a plain file.

    By hand because logging's handlers open with the builtin open(), which follows a symlink
    planted at the log path: the daemon (or root in the foreground) would append to its target.
    emit() also catches the OSError of a reopen after rotation (a link planted meanwhile), which
    WatchedFileHandler lets through to the caller on Python 3.6.
    """

    def _open(self):
        fd = open_append(self.baseFilename, 0o640)
        return os.fdopen(fd, 'a', encoding=self.encoding or 'utf-8',
                         errors=getattr(self, 'errors', None) or 'backslashreplace')

    def emit(self, record):
        try:
            logging.handlers.WatchedFileHandler.emit(self, record)
        except OSError:
            self.stream = None
            self.handleError(record)
