"""The scanner never follows, never blocks, never reads more than its cap, never leaks."""
import collections
import hashlib
import os
import stat

import pytest

from newfilewatch.model import Hit
from newfilewatch.scanner import Scanner, read_bounded

Verdict = collections.namedtuple('Verdict', 'score suspicious hits')


class RecordingEngine(object):
    """Stands in for the rule engine (tested on its own) so these tests see exactly what the
    scanner hands over; it flags content containing b'EVIL'."""

    def __init__(self):
        self.seen = []

    def analyse(self, data, name):
        self.seen.append((name, len(data)))
        if b'EVIL' in data:
            hit = Hit('test.evil', 1, 'EVIL', 'high', 10)
            return Verdict(10, True, (hit,))
        return Verdict(0, False, ())


@pytest.fixture
def engine():
    return RecordingEngine()


def test_regular_file_is_read_hashed_and_judged(tmp_path, engine):
    p = tmp_path / 'a.php'
    p.write_bytes(b'<?php EVIL')
    f = Scanner(engine).scan(str(p))
    assert (f.kind, f.suspicious, f.size, f.partial) == ('file', True, 10, False)
    assert f.sha256 == hashlib.sha256(b'<?php EVIL').hexdigest()
    assert f.owner == 'root' or f.owner == str(os.getuid())
    assert [h.rule for h in f.hits] == ['test.evil']


def test_symlink_to_shadow_is_reported_never_read(tmp_path, engine):
    link = tmp_path / 'x.txt'
    os.symlink('/etc/shadow', str(link))
    f = Scanner(engine).scan(str(link))
    assert f.kind == 'symlink' and f.suspicious
    assert 'symlink to /etc/shadow, not followed' == f.note
    assert engine.seen == []                     # the engine never saw a byte of it
    assert f.sha256 == ''


def test_fifo_socket_and_device_are_never_opened(tmp_path, engine):
    import socket
    os.mkfifo(str(tmp_path / 'p.php'))            # opening this for read would block
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / 's.php'))
    kinds = {}
    try:
        for name in ('p.php', 's.php'):
            kinds[name] = Scanner(engine).scan(str(tmp_path / name)).kind
        if os.geteuid() == 0:
            os.mknod(str(tmp_path / 'd.php'), stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null
            kinds['d.php'] = Scanner(engine).scan(str(tmp_path / 'd.php')).kind
    finally:
        sock.close()
    assert kinds['p.php'] == 'fifo' and kinds['s.php'] == 'socket'
    assert kinds.get('d.php', 'device') == 'device'
    assert engine.seen == []


def test_ten_gigabyte_sparse_file_costs_only_head_and_tail(tmp_path, engine):
    p = tmp_path / 'huge.php'
    with open(str(p), 'wb') as fh:
        fh.write(b'<?php head')
        fh.seek(10 * 1024 ** 3)
        fh.write(b'EVIL tail')
    f = Scanner(engine, max_bytes=1 << 20).scan(str(p))
    assert f.partial and f.suspicious               # the tail was read
    assert f.size == 10 * 1024 ** 3 + 9
    assert engine.seen[0][1] <= (1 << 20) + 1        # bounded: head + tail halves


def test_read_bounded_notices_growth(tmp_path):
    p = tmp_path / 'grow'
    p.write_bytes(b'x' * 100)
    fd = os.open(str(p), os.O_RDONLY)
    try:
        data, partial = read_bounded(fd, 10, 50)     # stat said 10 bytes, it has 100 now
    finally:
        os.close(fd)
    assert partial and len(data) <= 51


def test_foreign_hard_link_is_reported_without_reading(tmp_path, engine):
    if os.geteuid() != 0:
        pytest.skip('needs root to own files as another user')
    secret = tmp_path / 'secret'
    secret.write_bytes(b'root:$6$hash EVIL')
    os.chmod(str(tmp_path), 0o755)
    www = tmp_path / 'www'
    www.mkdir()
    os.chown(str(www), 65534, 65534)                  # the uploading account's dir
    os.link(str(secret), str(www / 'copy.txt'))
    f = Scanner(engine).scan(str(www / 'copy.txt'))
    assert f.suspicious and f.private
    assert [h.rule for h in f.hits] == ['file.foreign_hardlink']
    assert 'content not read' in f.note
    assert engine.seen == []
    assert 'hash' not in ''.join(h.text for h in f.hits)


def test_deleted_before_scan_is_gone(tmp_path, engine):
    f = Scanner(engine).scan(str(tmp_path / 'never.php'))
    assert f.kind == 'gone'


def test_replaced_between_lstat_and_open_is_noticed(tmp_path, engine):
    p = tmp_path / 'a.php'
    p.write_bytes(b'first')
    before = os.lstat(str(p))
    os.link(str(p), str(tmp_path / 'keep'))          # so the inode number cannot be reused
    os.unlink(str(p))
    (tmp_path / 'b').write_bytes(b'EVIL second')
    os.rename(str(tmp_path / 'b'), str(p))          # a new inode under the same name
    f = Scanner(engine).scan(str(p), st=before)
    assert f.note == 'replaced while being scanned'
    assert engine.seen == []


def test_swapped_for_a_symlink_is_not_followed(tmp_path, engine):
    p = tmp_path / 'a.php'
    p.write_bytes(b'first')
    before = os.lstat(str(p))
    os.unlink(str(p))
    os.symlink('/etc/passwd', str(p))
    f = Scanner(engine).scan(str(p), st=before)
    assert 'symlink' in f.note
    assert engine.seen == []


def test_sha256_allowlist_silences_a_file(tmp_path, engine):
    p = tmp_path / 'a.php'
    p.write_bytes(b'<?php EVIL')
    digest = hashlib.sha256(b'<?php EVIL').hexdigest()
    f = Scanner(engine, allow_sha256=[digest.upper()]).scan(str(p))
    assert not f.suspicious and f.note == 'sha256 allowlisted'
