"""The catch-up time survives restarts and never leaves a torn file."""
import os

import pytest

from newfilewatch import state


def test_round_trip_and_missing(tmp_path):
    path = str(tmp_path / 'sub' / 'state.json')
    assert state.load(path) is None
    assert state.save(path, 1234.5)
    assert state.load(path) == 1234.5
    assert os.listdir(str(tmp_path / 'sub')) == ['state.json']      # no temp file left


def test_garbage_is_no_state(tmp_path):
    p = tmp_path / 'state.json'
    for text in ('', '{', '[]', '{"caught_up": "yesterday"}'):
        p.write_text(text)
        assert state.load(str(p)) is None


def test_unwritable_dir_changes_nothing(tmp_path):
    target = tmp_path / 'file-not-dir'
    target.write_text('x')
    assert state.save(str(target / 'state.json'), 1.0) is False
    assert state.load('') is None and state.save('', 1.0) is False


def test_a_link_planted_at_any_temp_name_is_never_written_through(tmp_path):
    """Issue 15: a symlink `state.json.<pid>.tmp` -> victim let a root run overwrite the victim.
    The temp name is now unguessable and created O_EXCL|O_NOFOLLOW: plant links at every name
    the old code used and at the state file itself; the victim keeps its content."""
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    path = str(tmp_path / 'state.json')
    for pid in range(os.getpid() - 50, os.getpid() + 50):
        os.symlink(str(victim), '%s.%d.tmp' % (path, pid))
    assert state.save(path, 5.0)
    assert victim.read_text() == 'precious\n'
    assert state.load(path) == 5.0 and not os.path.islink(path)
    os.unlink(path)
    os.symlink(str(victim), path)              # the state file itself a link: replaced, not followed
    assert state.save(path, 6.0)
    assert victim.read_text() == 'precious\n' and not os.path.islink(path)


def test_a_fifo_or_device_as_state_file_is_no_state_and_never_blocks(tmp_path):
    fifo = str(tmp_path / 'state.json')
    os.mkfifo(fifo)
    assert state.load(fifo) is None             # O_NONBLOCK + fstat: not opened for reading
    link = str(tmp_path / 'zero.json')
    os.symlink('/dev/zero', link)
    assert state.load(link) is None


def test_a_planted_link_in_the_state_path_is_not_followed(tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    os.symlink(str(elsewhere), str(tmp_path / 'lib'))
    if os.geteuid() == 0:      # a link root made itself is trusted; one of the service user's is not
        os.chown(str(tmp_path / 'lib'), 65534, 65534, follow_symlinks=False)
    else:
        pytest.skip('needs root: only root-made links are followed, every link is a user\'s here')
    assert state.save(str(tmp_path / 'lib' / 'state.json'), 1.0) is False
    assert os.listdir(str(elsewhere)) == []
