"""Line files: reopen after rotation, carry on (and say so once) when unwritable."""
import logging
import os

from newfilewatch.sinks import LineFile


def test_reopen_after_rotation_writes_a_new_file(tmp_path):
    path = str(tmp_path / 'log' / 'newfiles.log')          # the dir is created
    f = LineFile(path)
    assert f.write('one')
    os.rename(path, path + '.1')
    f.reopen()
    assert f.write('two')
    f.close()
    assert open(path + '.1').read() == 'one\n' and open(path).read() == 'two\n'


def test_a_symlink_planted_at_the_log_path_is_not_followed(tmp_path, caplog):
    target = tmp_path / 'victim'
    target.write_text('keep\n')
    os.symlink(str(target), str(tmp_path / 'newfiles.log'))
    f = LineFile(str(tmp_path / 'newfiles.log'))
    assert not f.write('x')
    assert target.read_text() == 'keep\n'


def test_unwritable_path_is_reported_once_and_nothing_raises(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    (tmp_path / 'file').write_text('')
    f = LineFile(str(tmp_path / 'file' / 'x.log'))
    assert not f.write('lost to the file, still in the event stream')
    f.reopen()
    assert caplog.text.count('cannot write') == 1
