"""The SysV init script driving the real daemon, the way an admin does (`service newfilewatch ...`).

One module-scoped daemon walks through the life of a service: start as a throw-away
unprivileged user, status, a webshell dropped into another user's 0750 dir, reload with a broken
config, stop, crash (kill -9) and recovery.  Paths are redirected with the script's documented
NEWFILEWATCH_* environment overrides and a temp config.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from tests.support.service import (INIT_SCRIPT, WEBSHELL, Layout, alive, kill_quietly,
                                   needs_root, private_dir, proc_status, program_wrapper,
                                   rmtree, temp_user, wait_for, write_private_file)

pytestmark = needs_root


def test_header_has_chkconfig_and_lsb_block():
    text = open(INIT_SCRIPT).read()
    assert '# chkconfig: - 85 15' in text
    assert re.search(r'^# description: ', text, re.M)
    block = text.split('### BEGIN INIT INFO', 1)[1].split('### END INIT INFO', 1)[0]
    for key in ('Provides', 'Required-Start', 'Required-Stop', 'Should-Start',
                'Default-Start', 'Default-Stop', 'Short-Description', 'Description'):
        assert re.search(r'^# %s:' % key, block, re.M), key
    assert '$local_fs $remote_fs $syslog $network' in block
    assert os.access(INIT_SCRIPT, os.X_OK)


class Service(object):
    """The init script with every path redirected into a temp dir."""

    def __init__(self, base, layout):
        self.layout = layout
        self.sysconfig = os.path.join(base, 'sysconfig-newfilewatch')
        self.lockfile = os.path.join(base, 'lock', 'subsys', 'newfilewatch')
        self.env = dict(os.environ, NEWFILEWATCH_BIN=program_wrapper(base),
                        NEWFILEWATCH_SYSCONFIG=self.sysconfig,
                        NEWFILEWATCH_LOCKFILE=self.lockfile,
                        NEWFILEWATCH_FUNCTIONS=os.path.join(base, 'no-functions'))
        with open(self.sysconfig, 'w') as fh:
            fh.write('# as shipped, plus a test config\nOPTIONS="--config %s"\n' % layout.config)

    def __call__(self, *args):
        return subprocess.run(['sh', INIT_SCRIPT] + list(args), env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=120)


@pytest.fixture(scope='module')
def world():
    base = tempfile.mkdtemp(prefix='nfw-init-')
    os.chmod(base, 0o755)
    with temp_user('nfwd') as daemon_user, temp_user('nfwo') as web_owner:
        www = os.path.join(base, 'www')
        os.mkdir(www, 0o755)
        site = private_dir(os.path.join(www, 'customer'), web_owner, 0o750)
        layout = Layout(base, www, user=daemon_user.name)
        layout.write_config()
        service = Service(base, layout)
        try:
            yield service, daemon_user, web_owner, site
        finally:
            service('stop')
            kill_quietly(layout.pid())
            rmtree(base)


def test_usage_exits_2(world):
    service = world[0]
    done = service('bogus')
    assert done.returncode == 2
    assert 'Usage:' in done.stderr and 'condrestart' in done.stderr


def test_status_when_stopped_is_3(world):
    service = world[0]
    assert service('status').returncode == 3


def test_start_runs_as_the_user_with_one_capability(world):
    service, daemon_user, _, _ = world
    layout = service.layout
    done = service('start')
    assert done.returncode == 0, done.stdout + done.stderr
    assert '[  OK  ]' in done.stdout
    assert os.path.exists(service.lockfile)
    pid = layout.pid()
    assert pid and alive(pid)
    st = proc_status(pid)
    assert st['Uid'] == (daemon_user.uid,) * 4
    assert st['Gid'] == (daemon_user.gid,) * 4
    assert 0 not in st['Groups'] and set(st['Groups']) <= {daemon_user.gid}
    assert '%016x' % st['CapEff'] == '0000000000000004'
    assert st['CapPrm'] == 0x4
    # the run/log/state dirs were created for it
    for d in (os.path.dirname(layout.pidfile), layout.log_dir, layout.state_dir):
        assert os.stat(d).st_uid == daemon_user.uid, d
    assert service('status').returncode == 0


def test_second_start_is_harmless(world):
    service = world[0]
    pid = service.layout.pid()
    done = service('start')
    assert done.returncode == 0 and 'already running' in done.stdout
    assert service.layout.pid() == pid


def test_webshell_in_another_users_0750_dir_is_detected(world):
    service, _, web_owner, site = world
    layout = service.layout
    shell = write_private_file(os.path.join(site, 'up.php'), WEBSHELL, web_owner, 0o640)
    wait_for(lambda: shell in layout.read(layout.new_files_log), timeout=15,
             what='the webshell in the new-files log')
    line = [l for l in layout.read(layout.new_files_log).splitlines() if shell in l][0]
    assert line.endswith('| %s' % web_owner.name)
    wait_for(lambda: '"suspicious"' in layout.read(layout.events_file) or
             'suspicious' in layout.read(layout.log_file), timeout=15, what='a suspicious verdict')


def test_reload_with_a_broken_config_keeps_the_old_one(world):
    service = world[0]
    layout = service.layout
    pid = layout.pid()
    good = layout.config_text()
    try:
        layout.write_config(good + '[bogus\n')
        done = service('reload')
        assert done.returncode != 0            # refused before any signal is sent
        assert 'FAILED' in done.stdout
        assert alive(pid)
        # a SIGHUP straight to the daemon: it re-reads, refuses, says why and keeps running
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: 'reload refused' in layout.read(layout.log_file), timeout=15,
                 what='the refusal in the daemon log')
        assert alive(pid)
    finally:
        layout.write_config(good)
    assert service('status').returncode == 0
    done = service('reload')
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for(lambda: 'config reloaded' in layout.read(layout.log_file), timeout=15,
             what='the reload in the daemon log')
    assert layout.pid() == pid and alive(pid)


def test_reopen_on_sigusr1_after_rotation(world):
    service = world[0]
    layout = service.layout
    rotated = layout.new_files_log + '.1'
    os.rename(layout.new_files_log, rotated)
    os.kill(layout.pid(), signal.SIGUSR1)
    wait_for(lambda: 'reopening log files' in layout.read(layout.log_file), timeout=15,
             what='the reopen')
    site = world[3]
    shell = write_private_file(os.path.join(site, 'after-rotate.php'), WEBSHELL, world[2])
    wait_for(lambda: shell in layout.read(layout.new_files_log), timeout=15,
             what='a line in the new (reopened) new-files log')
    assert shell not in layout.read(rotated)


def test_restart_with_a_broken_config_refuses_and_keeps_running(world):
    service = world[0]
    layout = service.layout
    pid = layout.pid()
    good = layout.config_text()
    try:
        layout.write_config(good + '[bogus\n')
        for action in ('restart', 'condrestart'):
            done = service(action)
            assert done.returncode == 6, done.stdout + done.stderr     # LSB: not configured
            assert 'config is broken' in done.stderr
            assert layout.pid() == pid and alive(pid)       # never stopped
    finally:
        layout.write_config(good)
    assert service('status').returncode == 0


def test_stop_then_status_3(world):
    service = world[0]
    pid = service.layout.pid()
    done = service('stop')
    assert done.returncode == 0, done.stdout + done.stderr
    assert not alive(pid)
    assert not os.path.exists(service.layout.pidfile)
    assert not os.path.exists(service.lockfile)
    assert service('status').returncode == 3
    assert service('condrestart').returncode == 0        # not running: nothing to restart
    assert service('status').returncode == 3


def test_start_recovers_from_a_stale_pidfile_after_kill_9(world):
    service = world[0]
    layout = service.layout
    assert service('start').returncode == 0
    old = layout.pid()
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not alive(old), what='the killed daemon to be gone')
    assert os.path.exists(layout.pidfile)
    assert service('status').returncode == 1               # dead but pid file exists
    done = service('start')
    assert done.returncode == 0, done.stdout + done.stderr
    new = layout.pid()
    assert new != old and alive(new)
    done = service('restart')
    assert done.returncode == 0, done.stdout + done.stderr
    assert layout.pid() not in (None, new) and alive(layout.pid())
    assert service('stop').returncode == 0


def test_shellcheck_clean():
    """POSIX sh (EL's /bin/sh is bash, but the script claims #!/bin/sh) and no warning at all."""
    if not shutil.which('shellcheck'):
        pytest.skip('shellcheck not installed (tests/setup.sh installs it)')
    done = subprocess.run(['shellcheck', '-s', 'sh', INIT_SCRIPT], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert done.returncode == 0, done.stdout


def _recording_program(base):
    """A stand-in for the program that only records its argv (one per line) and succeeds:
    what is under test here is how the script builds the command line from OPTIONS."""
    path = os.path.join(base, 'recording-newfilewatch')
    with open(path, 'w') as fh:
        fh.write('#!/bin/sh\nprintf "%%s\\n" "$@" > %s/argv.$1\n'
                 '[ "$1" = status ] && exit 3\nexit 0\n' % base)
    os.chmod(path, 0o755)
    return path


def test_options_are_split_but_never_glob_expanded(tmp_path):
    base = str(tmp_path)
    for site in ('a', 'b'):                         # the glob matches two dirs: expanded by a
        os.makedirs(os.path.join(base, 'home', site, 'public_html'))   # shell, it is 2 args
    pattern = os.path.join(base, 'home', '*', 'public_html')
    sysconfig = os.path.join(base, 'sysconfig')
    with open(sysconfig, 'w') as fh:
        fh.write('OPTIONS="--config %s/my.conf --watch %s"\n' % (base, pattern))
    env = dict(os.environ, NEWFILEWATCH_BIN=_recording_program(base),
               NEWFILEWATCH_SYSCONFIG=sysconfig,
               NEWFILEWATCH_LOCKFILE=os.path.join(base, 'lock'),
               NEWFILEWATCH_FUNCTIONS=os.path.join(base, 'no-functions'))
    for action in ('start', 'stop', 'reload'):
        done = subprocess.run(['sh', INIT_SCRIPT, action], env=env, cwd=base,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    with open(os.path.join(base, 'argv.start')) as fh:
        assert fh.read().splitlines() == ['start', '--config', base + '/my.conf',
                                          '--watch', pattern]
    with open(os.path.join(base, 'argv.stop')) as fh:        # only --config for the others
        assert fh.read().splitlines() == ['stop', '--config', base + '/my.conf']
    with open(os.path.join(base, 'argv.reload')) as fh:
        assert fh.read().splitlines() == ['reload', '--config', base + '/my.conf']


@pytest.mark.parametrize('action,code', [('status', 4), ('stop', 5), ('start', 5),
                                         ('restart', 5), ('reload', 5)])
def test_lsb_codes_when_the_program_is_missing(tmp_path, action, code):
    env = dict(os.environ, NEWFILEWATCH_BIN=str(tmp_path / 'not-installed'),
               NEWFILEWATCH_SYSCONFIG=str(tmp_path / 'none'),
               NEWFILEWATCH_LOCKFILE=str(tmp_path / 'lock'),
               NEWFILEWATCH_FUNCTIONS=str(tmp_path / 'no-functions'))
    done = subprocess.run(['sh', INIT_SCRIPT, action], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.returncode == code, done.stdout + done.stderr
    assert 'not installed' in done.stderr
