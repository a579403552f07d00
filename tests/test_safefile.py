"""Writes into dirs someone else controls: never through a planted link, FIFO or hard link."""
import logging
import os

import pytest

from newfilewatch import safefile
from tests.support.service import needs_root


def test_atomic_write_never_writes_through_a_link_and_leaves_no_temp(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('keep')
    target = tmp_path / 'state.json'
    os.symlink(str(victim), str(target))
    safefile.atomic_write(str(target), b'new')
    assert victim.read_text() == 'keep' and target.read_bytes() == b'new'
    assert sorted(os.listdir(str(tmp_path))) == ['state.json', 'victim']


def test_temp_names_are_unguessable():
    names = {safefile.temp_name('state.json') for _ in range(100)}
    assert len(names) == 100 and all(safefile.is_temp_name(n) for n in names)
    assert not safefile.is_temp_name('state.json')


def test_open_append_refuses_links_fifos_and_devices(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('keep')
    link = tmp_path / 'a.log'
    os.symlink(str(victim), str(link))
    with pytest.raises(OSError):
        safefile.open_append(str(link))
    fifo = tmp_path / 'b.log'
    os.mkfifo(str(fifo))
    with pytest.raises(OSError):                      # ENXIO (no reader) or not regular: no hang
        safefile.open_append(str(fifo))
    assert victim.read_text() == 'keep'
    fd = safefile.open_append(str(tmp_path / 'c.log'))
    os.write(fd, b'x')
    os.close(fd)
    assert (tmp_path / 'c.log').read_bytes() == b'x'


@needs_root
def test_root_does_not_append_to_a_hard_link(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('keep')
    os.link(str(victim), str(tmp_path / 'd.log'))
    with pytest.raises(safefile.UnsafePath):
        safefile.open_append(str(tmp_path / 'd.log'))


def test_the_log_handler_does_not_follow_a_planted_link(tmp_path):
    """Issue 15: logging's handlers open with open(), which follows a link at the log path."""
    victim = tmp_path / 'victim'
    victim.write_text('keep\n')
    path = str(tmp_path / 'newfilewatch.log')
    os.symlink(str(victim), path)
    with pytest.raises(OSError):
        safefile.LogFileHandler(path)
    os.unlink(path)
    handler = safefile.LogFileHandler(path)
    logger = logging.getLogger('test-safefile')
    logger.addHandler(handler)
    try:
        logger.warning('one')
        os.rename(path, path + '.1')                 # rotated; a link planted at the name
        os.symlink(str(victim), path)
        logger.warning('two')                        # reopen refused: not raised, not written
        assert victim.read_text() == 'keep\n'
        os.unlink(path)
        logger.warning('three')
        assert open(path).read().endswith('three\n')
    finally:
        logger.removeHandler(handler)
        handler.close()


@needs_root
def test_open_dir_follows_root_links_only(tmp_path):
    real = tmp_path / 'run'
    real.mkdir()
    os.symlink(str(real), str(tmp_path / 'var-run'))          # root's, like /var/run -> /run
    os.close(safefile.open_dir(str(tmp_path / 'var-run')))
    os.symlink(str(real), str(tmp_path / 'planted'))
    os.chown(str(tmp_path / 'planted'), 65534, 65534, follow_symlinks=False)
    with pytest.raises(safefile.UnsafePath):
        safefile.open_dir(str(tmp_path / 'planted'))
    made = safefile.make_dirs(str(tmp_path / 'x' / 'y'))
    assert made == ['x', 'y'] and (tmp_path / 'x' / 'y').is_dir()
