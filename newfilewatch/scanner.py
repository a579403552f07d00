"""Read one candidate file safely and hand its bytes to the detection engine.

This is the only place that opens files an attacker controls, so it is deliberately paranoid:
- lstat first: a symlink, FIFO, socket or device is described from its metadata and never opened
  (opening a FIFO could block, opening a device could have side effects);
- then open with O_NOFOLLOW | O_NONBLOCK and check with fstat that it is still a regular file and
  the same inode, so a swap between lstat and open is noticed, not followed;
- read at most `max_bytes`: the whole file, or its head and tail when larger, so a 10 GB file
  costs the same as a 4 MB one;
- a hard link to a file the directory's owner does not own (possible where
  fs.protected_hardlinks=0, the EL6 default) is reported without reading it: its content may be
  someone else's secret, e.g. root's /etc/shadow.
"""
import errno
import hashlib
import logging
import os
import pwd
import stat

from newfilewatch import wordpress
from newfilewatch.escape import escape_name
from newfilewatch.model import Hit, finding

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0) | \
    getattr(os, 'O_NOCTTY', 0)
_KINDS = ((stat.S_ISLNK, 'symlink'), (stat.S_ISFIFO, 'fifo'), (stat.S_ISSOCK, 'socket'),
          (stat.S_ISCHR, 'device'), (stat.S_ISBLK, 'device'), (stat.S_ISDIR, 'directory'))
# Where a symlink in a web root has no business pointing: other users' homes and system secrets.
_SENSITIVE_TARGETS = ('/etc/', '/root/', '/proc/', '/sys/', '/dev/', '/var/lib/', '/boot/')


def kind_of(mode):
    if stat.S_ISREG(mode):
        return 'file'
    for test, name in _KINDS:
        if test(mode):
            return name
    return 'other'


class OwnerNames(object):
    """uid -> user name, cached: pwd lookups can hit NSS (LDAP, sssd) and must not run per event."""

    def __init__(self):
        self._names = {}

    def __call__(self, uid):
        name = self._names.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except KeyError:
                name = str(uid)
            if len(self._names) > 10000:
                self._names.clear()
            self._names[uid] = name
        return name


def read_bounded(fd, size, max_bytes):
    """Return (data, partial): the whole content, or head + tail halves when it exceeds max_bytes."""
    if size <= max_bytes:
        chunks, remaining = [], max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b''.join(chunks)
        if len(data) <= max_bytes:
            return data, False
        size = max(size, len(data))        # it grew while we read: fall through to head + tail
    half = max_bytes // 2
    head = os.pread(fd, half, 0)
    tail = os.pread(fd, half, max(size - half, len(head)))
    return head + b'\n' + tail, True


class Scanner(object):
    """Path -> Finding.  `engine` is engine.Engine (or anything with analyse(data, name));
    `integrity` an integrity.Integrity (or None): files matching WordPress.org's checksums are
    known good and not analysed, modified core files are alerted whatever the rules say."""

    def __init__(self, engine, max_bytes=4 << 20, allow_sha256=(), owner_names=None,
                 integrity=None):
        self.engine = engine
        self.max_bytes = max_bytes
        self.allow_sha256 = frozenset(h.lower() for h in allow_sha256)
        self.owner_names = owner_names or OwnerNames()
        self.integrity = integrity

    def scan(self, path, st=None, now=0.0):
        """Describe and judge the file at `path` (str, surrogateescape'd); never raises on OSError."""
        try:
            st = st or os.lstat(path)
        except OSError as exc:
            return finding(path, kind='gone', note=_why(exc), time=now)
        owner = self.owner_names(st.st_uid)
        kind = kind_of(st.st_mode)
        if kind == 'symlink':
            return self._symlink(path, st, owner, now)
        if kind != 'file':
            return finding(path, kind=kind, owner=owner, uid=st.st_uid, size=st.st_size,
                           note='%s, not read' % kind, time=now)
        if st.st_nlink > 1:
            foreign = self._foreign_hardlink(path, st)
            if foreign is not None:
                return finding(path, owner=owner, uid=st.st_uid, size=st.st_size, score=1000,
                               suspicious=True, private=True, time=now, note=foreign,
                               hits=[Hit('file.foreign_hardlink', 0, foreign, 'high', 1000)])
        return self._regular(path, st, owner, now)

    def _regular(self, path, st, owner, now):
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            note = 'replaced by a symlink, not followed' if exc.errno == errno.ELOOP else _why(exc)
            return finding(path, kind='gone' if exc.errno == errno.ENOENT else 'file', owner=owner,
                           uid=st.st_uid, size=st.st_size, note=note, time=now)
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode) or (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                return finding(path, kind=kind_of(fst.st_mode), owner=owner, uid=fst.st_uid,
                               size=fst.st_size, note='replaced while being scanned', time=now)
            data, partial = read_bounded(fd, fst.st_size, self.max_bytes)
        except OSError as exc:
            return finding(path, owner=owner, uid=st.st_uid, size=st.st_size, note=_why(exc),
                           time=now)
        finally:
            os.close(fd)
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.allow_sha256:
            return finding(path, owner=owner, uid=fst.st_uid, size=fst.st_size, sha256=digest,
                           partial=partial, note='sha256 allowlisted', time=now)
        judgement = self._integrity(path, data) if not partial else None
        if judgement is not None and judgement.status == wordpress.GOOD:
            return finding(path, owner=owner, uid=fst.st_uid, size=fst.st_size, sha256=digest,
                           note=judgement.note, time=now, known_good=True)
        verdict = self.engine.analyse(data, path)
        score, suspicious, hits = verdict.score, verdict.suspicious, verdict.hits
        if judgement is not None:            # modified / unexpected: an alert of its own
            rule = wordpress.RULES['integrity.' + judgement.status]
            hits = (Hit(rule.name, 0, judgement.note, rule.severity, rule.weight),) + tuple(hits)
            score, suspicious = score + rule.weight, True
        return finding(path, owner=owner, uid=fst.st_uid, size=fst.st_size, sha256=digest,
                       score=score, suspicious=suspicious, hits=hits,
                       partial=partial, note='head and tail read' if partial else '', time=now)

    def _integrity(self, path, data):
        if self.integrity is None:
            return None
        try:
            return self.integrity.check(path, data)
        except Exception:                    # the checksum check must never cost the scan
            logging.getLogger('newfilewatch').exception(
                'integrity check failed on %s', escape_name(path))
            return None

    def _symlink(self, path, st, owner, now):
        try:
            target = os.readlink(path)
        except OSError as exc:
            return finding(path, kind='symlink', owner=owner, uid=st.st_uid, note=_why(exc), time=now)
        resolved = os.path.realpath(path)    # resolves names only; the target is never opened
        hits, note = [], 'symlink to %s, not followed' % target
        try:
            tst = os.stat(path)
        except OSError:
            tst = None
        if tst is not None and tst.st_uid != st.st_uid:
            hits.append(Hit('file.symlink_foreign', 0, 'points to a file of %s' %
                            self.owner_names(tst.st_uid), 'high', 1000))
        elif resolved.startswith(_SENSITIVE_TARGETS) or resolved == '/':
            hits.append(Hit('file.symlink_system', 0, 'points into %s' % resolved, 'high', 1000))
        return finding(path, kind='symlink', owner=owner, uid=st.st_uid, size=st.st_size,
                       score=sum(h.weight for h in hits), suspicious=bool(hits), hits=hits,
                       note=note, time=now)

    def _foreign_hardlink(self, path, st):
        """A reason string when `path` is an extra link to a file its directory's owner does not own."""
        try:
            dst = os.stat(os.path.dirname(path) or '.')
        except OSError:
            return None
        if st.st_uid != dst.st_uid:
            return 'hard link (%d links) to a file of %s in a directory of %s; content not read' % (
                st.st_nlink, self.owner_names(st.st_uid), self.owner_names(dst.st_uid))
        return None


def _why(exc):
    return exc.strerror or str(exc)
