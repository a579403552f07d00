"""The fanotify binding: record parsing on hand-built bytes, then the real syscalls as root."""
import errno
import os
import struct

import pytest

from newfilewatch import fanotify as fan
from tests.support.service import IS_ROOT
from tests.support.wait import wait_until

FSID = b'\x01\x02\x03\x04\x05\x06\x07\x08'
DIR_HANDLE = b'\xaa' * 8
FILE_HANDLE = b'\xbb' * 12


def test_metadata_layout_matches_the_uapi_header():
    assert fan.METADATA.size == 24           # FAN_EVENT_METADATA_LEN
    assert fan.FAN_REPORT_DFID_NAME == 0xc00


def test_parse_dfid_name_and_fid_records():
    buf = fan.build_event(fan.FAN_CLOSE_WRITE, 4242, [
        (fan.INFO_DFID_NAME, FSID, 1, DIR_HANDLE, b'shell.php'),
        (fan.INFO_FID, FSID, 1, FILE_HANDLE, None)])
    buf += fan.build_event(fan.FAN_CREATE | fan.FAN_ONDIR, 7, [
        (fan.INFO_DFID_NAME, FSID, 1, DIR_HANDLE, b'new\xffdir')])
    (mask, pid, key, name, child, fd), second = fan.parse(buf)
    assert (mask, pid, name, fd) == (fan.FAN_CLOSE_WRITE, 4242, b'shell.php', fan.FAN_NOFD)
    # the key is fsid + struct file_handle: key[8:] is what open_by_handle_at takes
    assert key == FSID + struct.pack('=Ii', 8, 1) + DIR_HANDLE
    assert child == FSID + struct.pack('=Ii', 12, 1) + FILE_HANDLE
    assert second[0] == fan.FAN_CREATE | fan.FAN_ONDIR and second[3] == b'new\xffdir'
    assert second[4] is None


def test_parse_overflow_has_no_records_and_a_truncated_tail_is_left():
    overflow = fan.build_event(fan.FAN_Q_OVERFLOW, 0)
    whole = fan.build_event(fan.FAN_MOVED_TO, 1, [(fan.INFO_DFID_NAME, FSID, 1, DIR_HANDLE, b'a')])
    events = fan.parse(overflow + whole + whole[:30])
    assert [e[0] for e in events] == [fan.FAN_Q_OVERFLOW, fan.FAN_MOVED_TO]
    assert events[0][2] is None and events[0][3] is None


def test_parse_refuses_an_unknown_metadata_version():
    buf = bytearray(fan.build_event(fan.FAN_CREATE, 1))
    buf[4] = 2
    with pytest.raises(ValueError):
        fan.parse(bytes(buf))


def test_refusal_names_the_errno_and_what_it_means():
    text = fan.refusal(OSError(errno.EXDEV, 'x'))
    assert 'EXDEV' in text and 'fsid' in text
    assert 'ENOSYS' in fan.refusal(OSError(errno.ENOSYS, 'x'))


@pytest.fixture
def group():
    if not IS_ROOT:
        pytest.skip('fanotify filesystem marks need root (or NEWFILEWATCH_PURE_TESTS is set)')
    try:
        g = fan.Group()
    except OSError as exc:
        pytest.skip('this kernel refuses fanotify: %s' % fan.refusal(exc))
    yield g
    g.close()


def test_real_events_carry_dir_handle_name_and_pid(group, tmp_path):
    mask = fan.FAN_CREATE | fan.FAN_CLOSE_WRITE | fan.FAN_EVENT_ON_CHILD | fan.FAN_ONDIR
    group.mark_filesystem(str(tmp_path), mask)
    (tmp_path / 'x.php').write_bytes(b'<?php')
    mine = []

    def seen():
        mine.extend(e for e in group.read() if e[3] == b'x.php')
        return any(e[0] & fan.FAN_CLOSE_WRITE for e in mine)
    wait_until(seen, 10, what='close_write of x.php')
    event = [e for e in mine if e[0] & fan.FAN_CLOSE_WRITE][0]
    assert event[1] == os.getpid()
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert event[2][:8] == fan.fsid(fd)
        handle, _ = fan.name_to_handle(str(tmp_path))
        assert event[2][8:] == handle
        opened = fan.open_by_handle(fd, event[2][8:])
        assert os.readlink('/proc/self/fd/%d' % opened) == os.path.realpath(str(tmp_path))
        os.close(opened)
    finally:
        os.close(fd)


def test_mark_on_a_filesystem_without_handles_is_refused(group):
    with pytest.raises(OSError) as info:
        group.mark_filesystem('/proc', fan.FAN_CREATE)
    assert info.value.errno in (errno.EOPNOTSUPP, errno.ENODEV, errno.EXDEV, errno.EINVAL)
