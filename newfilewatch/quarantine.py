"""`newfilewatch quarantine PATH...`, `quarantine --list`, `restore ID`: files out of reach, and back.

Runs as root, in directories that belong to customers (and, for the event log, to the daemon's
user), so it trusts none of them:
- the path's directory is resolved once, then opened component by component with O_NOFOLLOW
  and every later step is relative to that fd: a directory swapped for a symlink half-way makes
  the walk fail instead of moving something elsewhere;
- the file is lstat'ed (a symlink is refused, never followed), opened O_NOFOLLOW|O_NONBLOCK,
  fstat'ed (same inode), hashed from that fd, and compared with the sha256 of the alert when the
  command carries one (`--sha256`, as in every alert): a file that changed since is refused;
- a hard link to a file of another account (the EL6 default fs.protected_hardlinks=0 lets a user
  link root's files into a web root) is refused: moving it would take someone else's file;
- a path outside the watched roots ([watch] dirs) is refused: this is not a general `mv`.

Where it goes: `[response] quarantine_dir` (root, 0700), as `ID` (the content, root's, mode
0400, no extension, so nothing can execute or serve it) and `ID.json` (original path, owner,
group, mode, times, sha256, the alert from the event log).  The dir is reached without
following any link and must be root's: the default sits in the daemon user's home, where that
user could rename it (never read or change it) or plant a link in its place.  The original name is left empty (no
stub a web server could serve).  Every file we create there is opened O_CREAT|O_EXCL|O_NOFOLLOW.
(The `harden` branch adds a shared newfilewatch/safefile.py; until it is merged these few
helpers are local.)

Nothing is lost half-way:
- same filesystem: one rename(2) moves the inode (no copy exists to lose); the record is written
  after, and if that fails the file is linked back (link(2) never overwrites) with its owner,
  mode and times;
- another filesystem: copy, fsync, re-read and compare the sha256 of the copy, write the record,
  and only then unlink the original (after checking the name still is the same inode).  A full
  disk or a failed record removes the partial copy and leaves the original as it was.
`restore` puts a file back the same way (link or O_EXCL copy), so it never overwrites a file
that appeared at the path since.
"""
import errno
import glob
import grp
import hashlib
import json
import os
import pwd
import re
import stat
import time

from newfilewatch.escape import escape_name

FORMAT_VERSION = 1
CONTENT_MODE = 0o400
DIR_MODE = 0o700
RECORD_SUFFIX = '.json'
RESTORED_SUFFIX = '.restored.json'
_ID = re.compile(r'^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$')
_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC | getattr(os, 'O_NOCTTY', 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
CHUNK = 1 << 20


class QuarantineError(Exception):
    """Refused or failed; str() is the reason, for the admin (the file is where it was)."""


# --- pure parts ---------------------------------------------------------------------------

def make_id(now, token):
    """`YYYYMMDD-HHMMSS-xxxxxxxx`: sortable by time, no extension, no character a shell minds."""
    return '%s-%s' % (time.strftime('%Y%m%d-%H%M%S', time.gmtime(now)), token)


def valid_id(text):
    return bool(_ID.match(text or ''))


def under(path, root):
    """True when `path` is `root` or inside it (both absolute and normalised); pure."""
    root = root.rstrip('/') or '/'
    return path == root or path.startswith(root if root == '/' else root + '/')


def name_of(uid, db=pwd.getpwuid, attr='pw_name'):
    try:
        return getattr(db(uid), attr)
    except KeyError:
        return str(uid)


def describe_record(record):
    """One `quarantine --list` line."""
    return '%s  %s  %10d  %s  %s:%s  %s' % (
        record.get('id'), record.get('quarantined', '')[:19], record.get('size', 0),
        (record.get('sha256') or '')[:16], record.get('owner'), record.get('group'),
        record.get('shown'))


# --- fd-relative helpers ------------------------------------------------------------------

def open_dir(path):
    """An O_NOFOLLOW fd of the directory `path` (absolute, already resolved), walked from '/'."""
    fd = os.open('/', _DIR)
    try:
        for part in [p for p in path.split('/') if p]:
            try:
                nfd = os.open(part, _DIR, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise QuarantineError('%s: a component (%s) is not a plain directory (symlink '
                                          'swapped in?)' % (escape_name(path), escape_name(part)))
                raise QuarantineError('%s: %s' % (escape_name(path), exc.strerror))
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def quarantine_dir_fd(qdir):
    """The quarantine dir, created root 0700 if missing; refused if it is not root's own dir."""
    parent = os.path.dirname(qdir.rstrip('/'))
    if parent and not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    try:
        os.mkdir(qdir, DIR_MODE)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise QuarantineError('cannot create %s: %s' % (qdir, exc.strerror))
    # Not realpath(): the default's parent is the daemon user's home, and a link it planted in
    # place of the dir must make us stop, not chmod or write wherever it points.
    fd = open_dir(os.path.abspath(qdir))
    st = os.fstat(fd)
    if st.st_uid != 0:
        os.close(fd)
        raise QuarantineError('%s belongs to uid %d, not root: refusing to use it' % (qdir, st.st_uid))
    if stat.S_IMODE(st.st_mode) != DIR_MODE:
        os.fchmod(fd, DIR_MODE)
    return fd


def _fsync(fd):
    try:
        os.fsync(fd)
    except OSError:
        pass


def _hash_fd(fd, out_fd=None):
    """sha256 of fd's content from offset 0 (copied to out_fd when given); returns (hex, size)."""
    h = hashlib.sha256()
    offset = 0
    while True:
        chunk = os.pread(fd, CHUNK, offset)
        if not chunk:
            break
        h.update(chunk)
        if out_fd is not None:
            view = memoryview(chunk)
            while view:
                view = view[os.write(out_fd, view):]
        offset += len(chunk)
    return h.hexdigest(), offset


def _write_new(dir_fd, name, data, mode=0o600):
    """Create `name` (O_EXCL|O_NOFOLLOW) in dir_fd with `data`, fsync'd; removed again on failure."""
    fd = os.open(name, _CREATE, mode, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink(dir_fd, name)
        raise
    os.close(fd)


def _unlink(dir_fd, name):
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass


def _set_meta(fd, record):
    """Owner first (chown clears set-id bits), then mode, then times."""
    os.fchown(fd, record['uid'], record['gid'])
    os.fchmod(fd, record['mode'])
    os.utime(fd, ns=(record['atime_ns'], record['mtime_ns']))


def _put_back(src_dir, src_name, dst_dir, dst_name, record, same_fs):
    """Link or copy src to dst without ever overwriting dst, with the record's owner, mode, times."""
    if same_fs:
        try:
            os.link(src_name, dst_name, src_dir_fd=src_dir, dst_dir_fd=dst_dir, follow_symlinks=False)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise QuarantineError('%s exists (a file appeared since): not overwritten; move it '
                                      'away first' % record['shown'])
            raise
        fd = os.open(dst_name, _READ, dir_fd=dst_dir)
        try:
            _set_meta(fd, record)
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        src = os.open(src_name, _READ, dir_fd=src_dir)
        try:
            try:
                out = os.open(dst_name, _CREATE, 0o600, dir_fd=dst_dir)
            except OSError as exc:
                if exc.errno == errno.EEXIST:
                    raise QuarantineError('%s exists (a file appeared since): not overwritten; '
                                          'move it away first' % record['shown'])
                raise
            try:
                digest, _ = _hash_fd(src, out)
                os.fsync(out)
                if digest != record['sha256']:
                    raise QuarantineError('copy back of %s does not match its sha256' % record['shown'])
                _set_meta(out, record)
            except BaseException:
                os.close(out)
                _unlink(dst_dir, dst_name)
                raise
            os.close(out)
        finally:
            os.close(src)
    _fsync(dst_dir)


# --- the event log ----------------------------------------------------------------------

def _open_log(path, flags):
    """The event log, opened as root in the daemon user's dir: never through a symlink, never a
    FIFO, and for writing never a hard link or a file of a third user (a planted link to
    /etc/shadow must not get a line appended)."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC)
    st = os.fstat(fd)
    unsafe = not stat.S_ISREG(st.st_mode)
    if flags & os.O_WRONLY and not unsafe:
        owner = os.stat(os.path.dirname(path) or '.').st_uid
        unsafe = st.st_nlink != 1 or st.st_uid not in (0, owner)
    if unsafe:
        os.close(fd)
        raise OSError(errno.EINVAL, 'not a plain file of the daemon user')
    return fd


def find_alert(events_file, shown, sha256=None):
    """The last `alert` event for the (escaped) path `shown`, with this sha256 when known."""
    if not events_file or events_file == '-':
        return None
    try:
        fd = _open_log(events_file, os.O_RDONLY)
    except OSError:
        return None
    found = None
    with os.fdopen(fd, 'rb') as fh:
        for line in fh:
            if b'"alert"' not in line:
                continue
            try:
                event = json.loads(line.decode('utf-8', 'replace'))
            except ValueError:
                continue
            if event.get('event') == 'alert' and event.get('path') == shown and (
                    not sha256 or not event.get('sha256') or event['sha256'] == sha256):
                found = event
    return found


def write_event(events_file, record):
    """Append one JSON line; a missing file is created for the daemon's user (owner of its dir)."""
    if not events_file or events_file == '-':
        return False
    line = (json.dumps(record, ensure_ascii=False) + '\n').encode('utf-8', 'backslashreplace')
    try:
        try:
            fd = _open_log(events_file, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            fd = os.open(events_file, _CREATE | os.O_APPEND, 0o640)
            dst = os.stat(os.path.dirname(events_file) or '.')
            os.fchown(fd, dst.st_uid, dst.st_gid)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


# --- the commands -------------------------------------------------------------------------

def watch_roots(dirs):
    """[watch] dirs with their globs expanded, resolved: what `quarantine` may touch."""
    roots = []
    for pattern in dirs:
        for d in sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]:
            if os.path.isdir(d):
                roots.append(os.path.realpath(d))
    return roots


def _event_time(now):
    from newfilewatch.formatting import iso_time
    return iso_time(now)


def quarantine(path, roots, qdir, expect_sha256=None, events_file='', now=None, token=None,
               by=''):
    """Move the file at `path` into `qdir`; returns its record, or raises QuarantineError."""
    now = time.time() if now is None else now
    path = os.path.abspath(path)
    shown = escape_name(path)
    name = os.path.basename(path)
    if name in ('', '.', '..'):
        raise QuarantineError('%s: not a file name' % shown)
    parent = os.path.realpath(os.path.dirname(path))
    full = os.path.join(parent, name)
    if not any(under(full, r) and full != r for r in roots):
        raise QuarantineError('%s: outside the watched roots (%s): not touched' % (
            shown, ', '.join(escape_name(r) for r in roots) or 'none exist'))
    pfd = open_dir(parent)
    fd = qfd = None
    try:
        try:
            st = os.lstat(name, dir_fd=pfd)
        except OSError as exc:
            raise QuarantineError('%s: %s' % (shown, exc.strerror))
        if stat.S_ISLNK(st.st_mode):
            raise QuarantineError('%s: a symlink, not followed and not moved (remove the link '
                                  'itself: rm -- PATH)' % shown)
        if not stat.S_ISREG(st.st_mode):
            raise QuarantineError('%s: not a regular file' % shown)
        fd = os.open(name, _READ, dir_fd=pfd)
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(fst.st_mode):
            raise QuarantineError('%s: replaced while being looked at; not moved' % shown)
        dst = os.fstat(pfd)
        if fst.st_nlink > 1 and fst.st_uid != dst.st_uid:
            raise QuarantineError('%s: a hard link (%d links) to a file of %s in a directory of %s: '
                                  'not moved (remove the link itself: rm -- PATH)' % (
                                      shown, fst.st_nlink, name_of(fst.st_uid), name_of(dst.st_uid)))
        digest, size = _hash_fd(fd)
        if expect_sha256 and digest != expect_sha256.lower():
            raise QuarantineError('%s: changed since the alert (sha256 now %s, alert %s): not moved; '
                                  'scan it again' % (shown, digest, expect_sha256.lower()))
        qfd = quarantine_dir_fd(qdir)
        qid = make_id(now, token or os.urandom(4).hex())
        record = {'version': FORMAT_VERSION, 'id': qid, 'path': full, 'shown': escape_name(full),
                  'uid': fst.st_uid, 'gid': fst.st_gid, 'owner': name_of(fst.st_uid),
                  'group': name_of(fst.st_gid, grp.getgrgid, 'gr_name'),
                  'mode': stat.S_IMODE(fst.st_mode), 'size': size, 'sha256': digest,
                  'atime_ns': fst.st_atime_ns, 'mtime_ns': fst.st_mtime_ns,
                  'ctime': fst.st_ctime, 'nlink': fst.st_nlink, 'quarantined': _event_time(now),
                  'by': by, 'alert': find_alert(events_file, escape_name(full), digest)}
        same_fs = fst.st_dev == os.fstat(qfd).st_dev
        record['method'] = 'rename' if same_fs else 'copy'
        if same_fs:
            _move_same_fs(pfd, name, qfd, qid, fd, fst, record)
        else:
            _move_copy(pfd, name, qfd, qid, fd, fst, record)
        _fsync(qfd)
        _fsync(pfd)
    finally:
        for f in (fd, qfd, pfd):
            if f is not None:
                os.close(f)
    write_event(events_file, {'time': _event_time(now), 'event': 'quarantined', 'id': qid,
                              'path': record['shown'], 'owner': escape_name(record['owner']),
                              'sha256': digest, 'size': size, 'method': record['method']})
    return record


def _record_bytes(record):
    return json.dumps(record, ensure_ascii=True, sort_keys=True, indent=1).encode('ascii') + b'\n'


def _move_same_fs(pfd, name, qfd, qid, fd, fst, record):
    os.rename(name, qid, src_dir_fd=pfd, dst_dir_fd=qfd)
    moved = os.lstat(qid, dir_fd=qfd)
    if (moved.st_dev, moved.st_ino) != (fst.st_dev, fst.st_ino):
        # swapped between our open and the rename: give the newcomer its name back, untouched
        try:
            os.link(qid, name, src_dir_fd=qfd, dst_dir_fd=pfd, follow_symlinks=False)
            _unlink(qfd, qid)
        except OSError:
            pass
        raise QuarantineError('%s: replaced just before the move; not moved' % record['shown'])
    try:
        os.fchown(fd, 0, 0)
        os.fchmod(fd, CONTENT_MODE)
        digest, _ = _hash_fd(fd)          # an fd opened for writing before could still write
        if digest != record['sha256']:
            raise QuarantineError('%s: written to while being moved; put back' % record['shown'])
        _write_new(qfd, qid + RECORD_SUFFIX, _record_bytes(record))
    except BaseException:
        # Back where it was, with its owner, mode and times; link() never overwrites.
        try:
            _put_back(qfd, qid, pfd, name, record, True)
            _unlink(qfd, qid)
        except (OSError, QuarantineError) as exc:
            raise QuarantineError('%s: the move failed half-way and putting it back failed too '
                                  '(%s); the file is safe in the quarantine as %s' % (
                                      record['shown'], exc, qid))
        raise


def _move_copy(pfd, name, qfd, qid, fd, fst, record):
    out = os.open(qid, _CREATE, CONTENT_MODE, dir_fd=qfd)
    try:
        try:
            digest, _ = _hash_fd(fd, out)
            os.fsync(out)
        finally:
            os.close(out)
        check = os.open(qid, _READ, dir_fd=qfd)
        try:
            stored, _ = _hash_fd(check)
        finally:
            os.close(check)
        if not digest == stored == record['sha256']:
            raise QuarantineError('%s: the copy does not match (changed while copied?); not moved'
                                  % record['shown'])
        _write_new(qfd, qid + RECORD_SUFFIX, _record_bytes(record))
        now = os.lstat(name, dir_fd=pfd)
        if (now.st_dev, now.st_ino, now.st_mtime_ns, now.st_size) != (
                fst.st_dev, fst.st_ino, fst.st_mtime_ns, fst.st_size):
            raise QuarantineError('%s: changed while being copied; not moved' % record['shown'])
    except BaseException as exc:
        _unlink(qfd, qid + RECORD_SUFFIX)
        _unlink(qfd, qid)
        if isinstance(exc, OSError):
            raise QuarantineError('%s: cannot store a copy in the quarantine: %s; the file was '
                                  'left as it was' % (record['shown'], exc.strerror or exc))
        raise
    os.unlink(name, dir_fd=pfd)


def load_records(qdir, restored=False):
    """The records in the quarantine, oldest first (restored ones only with `restored`)."""
    try:
        names = sorted(os.listdir(qdir))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return []
        raise QuarantineError('cannot read %s: %s' % (qdir, exc.strerror))
    out = []
    for name in names:
        is_restored = name.endswith(RESTORED_SUFFIX)
        if not name.endswith(RECORD_SUFFIX) or is_restored != restored:
            continue
        try:
            with open(os.path.join(qdir, name), 'rb') as fh:
                out.append(json.loads(fh.read().decode('ascii')))
        except (OSError, ValueError):
            continue
    return out


def restore(qid, qdir, events_file='', now=None):
    """Put quarantined `qid` back with its owner, mode and times; returns the record."""
    if not valid_id(qid):
        raise QuarantineError('%r is not a quarantine ID (see `newfilewatch quarantine --list`)'
                              % qid)
    now = time.time() if now is None else now
    qfd = quarantine_dir_fd(qdir)
    pfd = None
    try:
        try:
            fd = os.open(qid + RECORD_SUFFIX, _READ, dir_fd=qfd)
            with os.fdopen(fd, 'rb') as fh:
                record = json.loads(fh.read().decode('ascii'))
        except (OSError, ValueError) as exc:
            raise QuarantineError('%s: no such quarantined file (%s)' % (qid, getattr(
                exc, 'strerror', None) or exc))
        content = os.open(qid, _READ, dir_fd=qfd)
        try:
            digest, _ = _hash_fd(content)
            cst = os.fstat(content)
        finally:
            os.close(content)
        if digest != record['sha256']:
            raise QuarantineError('%s: stored content does not match its record; not restored' % qid)
        parent, name = os.path.split(record['path'])
        pfd = open_dir(parent)
        try:
            os.lstat(name, dir_fd=pfd)
            raise QuarantineError('%s exists (a file appeared since): not overwritten; move it '
                                  'away first' % record['shown'])
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise QuarantineError('%s: %s' % (record['shown'], exc.strerror))
        same_fs = cst.st_dev == os.fstat(pfd).st_dev
        _put_back(qfd, qid, pfd, name, record, same_fs)
        _unlink(qfd, qid)
        os.rename(qid + RECORD_SUFFIX, qid + RESTORED_SUFFIX, src_dir_fd=qfd, dst_dir_fd=qfd)
        _fsync(qfd)
    finally:
        os.close(qfd)
        if pfd is not None:
            os.close(pfd)
    write_event(events_file, {'time': _event_time(now), 'event': 'restored', 'id': qid,
                              'path': record['shown'], 'owner': escape_name(record['owner']),
                              'sha256': record['sha256']})
    return record
