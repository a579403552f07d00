"""Parsing the inotify fd's bytes; names stay bytes until decoded losslessly."""
import os
import struct

from newfilewatch import inotify
from tests.support.wait import wait_until


def pack(wd, mask, cookie, name):
    padded = name + b'\0' * (16 - len(name) % 16) if name else b''
    return struct.pack('iIII', wd, mask, cookie, len(padded)) + padded


def test_parse_splits_events_and_strips_padding():
    buf = pack(1, inotify.IN_CLOSE_WRITE, 0, b'a.php') + pack(2, inotify.IN_ISDIR | inotify.IN_CREATE,
                                                             0, b'\xff\xfe') + pack(-1, inotify.IN_Q_OVERFLOW, 0, b'')
    assert inotify.parse(buf) == [(1, inotify.IN_CLOSE_WRITE, 0, b'a.php'),
                                  (2, inotify.IN_ISDIR | inotify.IN_CREATE, 0, b'\xff\xfe'),
                                  (-1, inotify.IN_Q_OVERFLOW, 0, b'')]


def test_a_real_instance_reports_a_non_utf8_name_as_bytes(tmp_path):
    ino = inotify.Inotify()
    try:
        ino.add_watch(str(tmp_path), inotify.IN_CLOSE_WRITE)
        name = b'\xff evil\n.php'
        with open(os.path.join(os.fsencode(str(tmp_path)), name), 'wb'):
            pass
        events = wait_until(ino.read, timeout=5, what='the close event')
        assert events[0][3] == name
    finally:
        ino.close()


def test_add_watch_errors_name_the_path(tmp_path):
    ino = inotify.Inotify()
    try:
        try:
            ino.add_watch(str(tmp_path / 'missing'), inotify.IN_CLOSE_WRITE)
        except OSError as exc:
            assert exc.filename == str(tmp_path / 'missing')
        else:
            raise AssertionError('no error for a missing dir')
    finally:
        ino.close()
