"""fs.inotify.max_user_watches tuning: pure decisions with plain values, then the command on
temp files (the real /proc and /etc are left alone)."""
import io
import os

from newfilewatch import sysctl
from tests.support.service import needs_runtime, program


def test_wanted_value_never_lowers():
    assert sysctl.wanted_value(8192, 524288) == 524288
    assert sysctl.wanted_value(None, 524288) == 524288
    assert sysctl.wanted_value(524288, 524288) is None
    assert sysctl.wanted_value(1048576, 524288) is None


def test_edit_conf_appends_when_absent():
    text = sysctl.edit_conf('kernel.panic = 10', 524288)
    assert text.startswith('kernel.panic = 10\n')
    assert text.endswith('fs.inotify.max_user_watches = 524288\n')
    assert sysctl.conf_values(text) == [524288]


def test_edit_conf_raises_a_lower_line_in_place():
    before = '# mine\n  fs.inotify.max_user_watches=8192\nvm.swappiness = 10\n'
    after = sysctl.edit_conf(before, 524288)
    assert after == '# mine\n  fs.inotify.max_user_watches = 524288\nvm.swappiness = 10\n'


def test_edit_conf_keeps_a_larger_value_and_ignores_comments():
    text = '# fs.inotify.max_user_watches = 10\nfs/inotify/max_user_watches = 1048576\n'
    assert sysctl.edit_conf(text, 524288) == text
    assert sysctl.conf_values(text) == [1048576]


def test_edit_conf_is_idempotent():
    once = sysctl.edit_conf('', 524288)
    assert sysctl.edit_conf(once, 524288) == once


def test_choose_conf_file():
    assert sysctl.choose_conf_file('', True) == sysctl.DROP_IN
    assert sysctl.choose_conf_file(None, False) == sysctl.SYSCTL_CONF
    # already set in sysctl.conf, which is read last at boot: edit it there
    assert sysctl.choose_conf_file('fs.inotify.max_user_watches = 8192\n', True) == \
        sysctl.SYSCTL_CONF


def _files(tmp_path, proc_value, conf_text=None):
    proc = tmp_path / 'max_user_watches'
    proc.write_text('%d\n' % proc_value)
    conf = tmp_path / 'sysctl.d' / '90-newfilewatch.conf'
    conf.parent.mkdir()
    if conf_text is not None:
        conf.write_text(conf_text)
    return str(proc), str(conf)


def test_tune_raises_8192_then_second_run_changes_nothing(tmp_path):
    proc, conf = _files(tmp_path, 8192)
    out = io.StringIO()
    assert sysctl.tune_command(None, proc, conf, out=out) == 0
    assert open(proc).read().strip() == '524288'
    assert sysctl.conf_values(open(conf).read()) == [524288]
    assert oct(os.stat(conf).st_mode & 0o777) == oct(0o644)
    assert 'raised from 8192 to 524288' in out.getvalue()

    conf_before = open(conf).read()
    mtime = os.stat(conf).st_mtime_ns
    out = io.StringIO()
    assert sysctl.tune_command(None, proc, conf, out=out) == 0
    assert open(conf).read() == conf_before and os.stat(conf).st_mtime_ns == mtime
    assert out.getvalue().count('left alone') == 2


def test_tune_leaves_a_larger_value_alone(tmp_path):
    proc, conf = _files(tmp_path, 1048576, 'fs.inotify.max_user_watches = 2097152\n')
    assert sysctl.tune_command(524288, proc, conf, out=io.StringIO()) == 0
    assert open(proc).read().strip() == '1048576'
    assert open(conf).read() == 'fs.inotify.max_user_watches = 2097152\n'


def test_tune_reports_an_unwritable_proc_file(tmp_path):
    proc = str(tmp_path / 'missing-dir' / 'max_user_watches')
    conf = str(tmp_path / 'conf')
    out = io.StringIO()
    assert sysctl.tune_command(524288, proc, conf, out=out) == 1
    assert 'cannot write' in out.getvalue()
    assert sysctl.conf_values(open(conf).read()) == [524288]   # the persistent half still done


def test_watch_limit(tmp_path):
    proc, _ = _files(tmp_path, 8192)
    assert sysctl.watch_limit(proc) == 8192
    assert sysctl.watch_limit(str(tmp_path / 'nope')) is None


@needs_runtime
def test_cli_tune_sysctl(tmp_path):
    proc, conf = _files(tmp_path, 8192)
    done = program(['tune-sysctl', '--value', '65536', '--proc-file', proc, '--conf-file', conf])
    assert done.returncode == 0, done.stderr
    assert open(proc).read().strip() == '65536'
    assert 'fs.inotify.max_user_watches = 65536' in open(conf).read()
