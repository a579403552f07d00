"""`newfilewatch start/stop/status/reload` without the init script: pure pidfile logic, a start
that fails says why, and a start by an unprivileged user runs as that user with no drop."""
import os
import signal
import subprocess
import sys
import tempfile

import pytest

from newfilewatch import daemon
from tests.support.service import (Layout, alive, kill_quietly, needs_root, proc_status,
                                   program, pythonpath, rmtree, temp_user, wait_for)


def test_parse_pid():
    assert daemon.parse_pid('1234\n') == 1234
    assert daemon.parse_pid('  77 extra') == 77
    for junk in ('', 'abc', '-5', '0', None):
        assert daemon.parse_pid(junk) is None


def test_pidfile_state(tmp_path):
    path = str(tmp_path / 'x.pid')
    assert daemon.pidfile_state(path) == ('stopped', None)
    with open(path, 'w') as fh:
        fh.write('%d\n' % os.getpid())
    assert daemon.pidfile_state(path) == ('running', os.getpid())
    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    child.wait()                                   # reaped: its pid is free now
    with open(path, 'w') as fh:
        fh.write('%d\n' % child.pid)
    assert daemon.pidfile_state(path) == ('dead', child.pid)
    with open(path, 'w') as fh:
        fh.write('garbage')
    assert daemon.pidfile_state(path) == ('dead', None)


def test_alive_treats_a_zombie_as_dead():
    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    wait_for(lambda: open('/proc/%d/stat' % child.pid).read().rpartition(')')[2].split()[0]
             == 'Z', what='the child to become a zombie')
    assert not daemon.alive(child.pid)
    child.wait()
    assert not daemon.alive(child.pid)
    assert daemon.alive(os.getpid())


def test_service_dirs_are_unique_and_pid_dir_world_readable():
    from newfilewatch import config
    cfg = config.load(None)
    dirs = daemon.service_dirs(cfg)
    assert dirs[0] == ('/var/run/newfilewatch', 0o755)
    assert '/var/log/newfilewatch' in dirs and '/var/lib/newfilewatch/spool' in dirs
    assert dirs.count('/var/log/newfilewatch') == 1 and dirs.count('/var/lib/newfilewatch') == 1


def test_signal_requests_wait_for_the_service():
    class Recorder(object):
        def __init__(self):
            self.got = []

        def request(self, what):
            self.got.append(what)
    requests = daemon._Requests()
    mapping = daemon.signal_map(requests)
    mapping[signal.SIGHUP](signal.SIGHUP, None)     # before the Service exists
    service = Recorder()
    requests.attach(service)
    mapping[signal.SIGUSR1](signal.SIGUSR1, None)
    mapping[signal.SIGTERM](signal.SIGTERM, None)
    assert service.got == ['reload', 'reopen', 'stop']
    assert mapping[signal.SIGTSTP] is None


@pytest.fixture
def base():
    path = tempfile.mkdtemp(prefix='nfw-daemon-')
    os.chmod(path, 0o755)
    yield path
    rmtree(path)


@needs_root
def test_failed_start_says_why_and_leaves_nothing_running(base):
    www = os.path.join(base, 'www')
    os.mkdir(www)
    layout = Layout(base, www)
    locked = os.path.join(base, 'locked')
    os.mkdir(locked, 0o755)                      # exists and root's: not chowned, not writable
    with temp_user() as user:
        layout.user = user.name
        layout.pidfile = os.path.join(locked, 'newfilewatch.pid')
        layout.write_config()
        done = program(['start', '--config', layout.config])
        try:
            assert done.returncode == 1
            assert 'not started' in done.stderr and layout.pidfile in done.stderr
            assert not os.path.exists(layout.pidfile)
        finally:
            kill_quietly(layout.pid())
        assert program(['status', '--config', layout.config]).returncode in (1, 3)


@needs_root
def test_start_as_unprivileged_user_runs_as_that_user(base):
    www = os.path.join(base, 'www')
    os.mkdir(www, 0o755)
    layout = Layout(base, www)
    layout.write_config()
    with temp_user() as user:
        for d in (os.path.join(base, 'run'), os.path.join(base, 'log'),
                  os.path.join(base, 'lib')):
            os.mkdir(d, 0o755)
            os.chown(d, user.uid, user.gid)
        # The ambient CAP_DAC_READ_SEARCH is only there because this machine's Python may live
        # in root's 0700 home (pyenv); the point is that started as non-root it does no drop:
        # its uid and its (un-narrowed) bounding set stay what they were.
        as_user = ['setpriv', '--reuid', str(user.uid), '--regid', str(user.gid),
                   '--clear-groups', '--inh-caps=-all,+dac_read_search',
                   '--ambient-caps=-all,+dac_read_search',
                   sys.executable, '-m', 'newfilewatch']
        env = dict(os.environ, PYTHONPATH=pythonpath())

        def run(*args):
            return subprocess.run(as_user + list(args) + ['--config', layout.config], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=60)
        done = run('start')
        try:
            assert done.returncode == 0, done.stderr
            assert 'started' in done.stdout
            pid = layout.pid()
            st = proc_status(pid)
            assert st['Uid'] == (user.uid,) * 4 and st['Groups'] == ()
            assert st['CapBnd'] == proc_status(os.getpid())['CapBnd']      # not narrowed
            assert run('status').returncode == 0
            again = run('start')
            assert again.returncode == 1 and 'already running' in again.stderr
            assert run('reload').returncode == 0
            wait_for(lambda: 'config reloaded' in layout.read(layout.log_file), timeout=15,
                     what='the reload')
            assert run('stop').returncode == 0
            assert not alive(pid) and run('status').returncode == 3
        finally:
            kill_quietly(layout.pid())
