"""`newfilewatch start/stop/status/reload` without the init script: pure pidfile logic, a start
that fails says why, and a start by an unprivileged user runs as that user with no drop."""
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from newfilewatch import daemon
from tests.support.service import (Layout, alive, kill_quietly, needs_root, proc_status,
                                   program, pythonpath, rmtree, temp_user, wait_for)


def test_parse_pid():
    assert daemon.parse_pid('1234\n') == 1234
    assert daemon.parse_pid('  77 extra') == 77
    for junk in ('', 'abc', '-5', '0', None):
        assert daemon.parse_pid(junk) is None


def fake_daemon(tmp_path):
    """A process whose /proc cmdline is `python -m newfilewatch` (a stand-in module that sleeps)."""
    pkg = tmp_path / 'fake' / 'newfilewatch'
    pkg.mkdir(parents=True)
    (pkg / '__init__.py').write_text('')
    (pkg / '__main__.py').write_text('import time\ntime.sleep(120)\n')
    return subprocess.Popen([sys.executable, '-m', 'newfilewatch'], cwd=str(tmp_path / 'fake'),
                            env={'PATH': os.environ.get('PATH', '/usr/bin:/bin')})


def write(path, text):
    with open(path, 'w') as fh:
        fh.write(text)


def test_looks_like_daemon():
    py = '/usr/bin/python3.6'
    assert daemon.looks_like_daemon(['python3', '-m', 'newfilewatch', 'start'], py)
    assert daemon.looks_like_daemon(['/usr/bin/python3', '/usr/bin/newfilewatch', 'start'], py)
    assert daemon.looks_like_daemon(['/usr/bin/python3', '-s', '/usr/bin/newfilewatch'], None)
    assert daemon.looks_like_daemon(['/usr/bin/python3', '/usr/bin/newfilewatch'],
                                    '/usr/libexec/platform-python3.6')
    assert not daemon.looks_like_daemon(['sleep', '1000'], '/usr/bin/sleep')
    assert not daemon.looks_like_daemon(['/bin/sh', 'newfilewatch'], '/bin/dash')
    assert not daemon.looks_like_daemon(['python3', '-m', 'http.server', 'newfilewatch'], py)
    assert not daemon.looks_like_daemon(['python3', '/tmp/evil.py', 'newfilewatch'], py)
    assert not daemon.looks_like_daemon([], py)


def test_pidfile_state(tmp_path):
    path = str(tmp_path / 'x.pid')
    assert daemon.pidfile_state(path) == ('stopped', None)
    ours = fake_daemon(tmp_path)
    other = subprocess.Popen(['sleep', '120'])
    try:
        wait_for(lambda: 'newfilewatch' in open('/proc/%d/cmdline' % ours.pid).read(),
                 what='the stand-in daemon')
        write(path, '%d\n' % ours.pid)
        assert daemon.pidfile_state(path) == ('running', ours.pid)
        assert daemon.pidfile_state(path, {os.getuid()}) == ('running', ours.pid)
        assert daemon.pidfile_state(path, {os.getuid() + 1}) == ('foreign', ours.pid)
        write(path, '%d\n' % other.pid)                  # alive, but not newfilewatch
        assert daemon.pidfile_state(path) == ('foreign', other.pid)
        write(path, '%d\n' % os.getpid())              # the command itself is never its target
        assert daemon.pidfile_state(path)[0] == 'foreign'
    finally:
        ours.kill()
        other.kill()
        ours.wait()
        other.wait()
    write(path, '%d\n' % ours.pid)                     # reaped: its pid is free now
    assert daemon.pidfile_state(path) == ('dead', ours.pid)
    for junk in ('garbage', '-1\n', '0\n'):
        write(path, junk)
        assert daemon.pidfile_state(path) == ('dead', None)


def test_planted_pidfiles_are_refused_without_reading_them(tmp_path):
    """A FIFO (would block open()), a link to /dev/zero (endless read), an oversized file."""
    fifo = str(tmp_path / 'fifo.pid')
    os.mkfifo(fifo)
    assert daemon.pidfile_state(fifo)[0] == 'unsafe'
    zero = str(tmp_path / 'zero.pid')
    os.symlink('/dev/zero', zero)
    state, why = daemon.pidfile_state(zero)
    assert state == 'unsafe' and 'symlink' in why
    big = str(tmp_path / 'big.pid')
    write(big, '1' * 100000)
    assert daemon.pidfile_state(big)[0] == 'unsafe'


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
            assert 'not started' in done.stderr and locked in done.stderr
            assert 'not writable by %s' % user.name in done.stderr
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


def _plant(path, kind, user, stranger):
    """What a compromised service user can leave at the pidfile's path."""
    if os.path.lexists(path):
        os.unlink(path)
    if kind == 'fifo':
        os.mkfifo(path)
    elif kind == 'zero':
        os.symlink('/dev/zero', path)
    else:
        write(path, {'minus-one': '-1\n', 'stranger': '%d\n' % stranger}[kind])
    os.chown(path, user.uid, user.gid, follow_symlinks=False)


@needs_root
def test_planted_pidfiles_never_hang_nor_signal_a_stranger(base):
    """Issue 15: a pidfile of -1, a FIFO, a link to /dev/zero, the pid of an unrelated process.
    Every command returns (subprocess timeout) and the stranger (a `sleep`) survives."""
    www = os.path.join(base, 'www')
    os.mkdir(www)
    with temp_user() as user:
        layout = Layout(base, www, user.name)
        layout.write_config()
        from newfilewatch import privileges
        privileges.prepare_dirs([(os.path.dirname(layout.pidfile), 0o755)], user)
        stranger = subprocess.Popen(['sleep', '1000'])
        try:
            expect = {'status': {'minus-one': 1, 'stranger': 1, 'fifo': 4, 'zero': 4},
                      'stop': 0, 'reload': 7, 'reopen-logs': 0}
            for kind in ('minus-one', 'stranger', 'fifo', 'zero'):
                for command, codes in sorted(expect.items()):
                    _plant(layout.pidfile, kind, user, stranger.pid)
                    done = program([command, '--config', layout.config], timeout=30)
                    code = codes[kind] if isinstance(codes, dict) else codes
                    assert done.returncode == code, (kind, command, done.stdout, done.stderr)
                    assert stranger.poll() is None, (kind, command)
            _plant(layout.pidfile, 'fifo', user, stranger.pid)
            done = program(['start', '--config', layout.config], timeout=60)
            assert done.returncode == 0, done.stderr
            pid = layout.pid()
            try:
                assert program(['reopen-logs', '--config', layout.config]).returncode == 0
                wait_for(lambda: 'reopening log files' in layout.read(layout.log_file),
                         timeout=15, what='SIGUSR1 to reach the daemon')
                assert program(['stop', '--config', layout.config]).returncode == 0
                assert not alive(pid)
            finally:
                kill_quietly(pid)
            assert stranger.poll() is None
            done = program(['reopen-logs', '--config', layout.config])
            assert done.returncode == 0 and 'not running' in done.stdout
        finally:
            stranger.kill()
            stranger.wait()


@needs_root
def test_foreground_as_root_drops_to_the_service_user(base):
    """Issue 11: `run --foreground` started as root kept every capability; now it prepares the
    service's dirs and drops exactly as the daemon does (uid, groups, CAP_DAC_READ_SEARCH)."""
    www = os.path.join(base, 'www')
    os.mkdir(www)
    with temp_user() as user:
        layout = Layout(base, www, user.name)
        layout.write_config()
        env = dict(os.environ, PYTHONPATH=pythonpath())
        with open(os.path.join(base, 'err'), 'w') as err:
            proc = subprocess.Popen([sys.executable, '-m', 'newfilewatch', 'run', '--foreground',
                                     '--config', layout.config], stdout=subprocess.DEVNULL,
                                    stderr=err, env=env)
        try:
            wait_for(lambda: 'watching' in layout.read(layout.log_file), timeout=20,
                     what='the foreground run to start')
            st = proc_status(proc.pid)
            assert st['Uid'] == (user.uid,) * 4 and 0 not in st['Groups']
            assert st['CapEff'] == 0x4 and st['CapBnd'] == 0x4
            assert os.stat(layout.log_dir).st_uid == user.uid
            assert os.stat(layout.log_file).st_uid == user.uid
            with open(os.path.join(www, 'shell.php'), 'wb') as fh:
                fh.write(b'<?php system($_GET["c"]); ?>\n')
            wait_for(lambda: 'shell.php' in layout.read(layout.new_files_log), timeout=20,
                     what='the new file in the log, written as the service user')
        finally:
            proc.terminate()
            assert proc.wait(20) == 0


@needs_root
def test_foreground_as_root_without_the_service_user_says_so_once_and_runs(base):
    www = os.path.join(base, 'www')
    os.mkdir(www)
    layout = Layout(base, www, 'nfw-no-such-user')
    layout.write_config()
    env = dict(os.environ, PYTHONPATH=pythonpath())
    err_path = os.path.join(base, 'err')
    with open(err_path, 'w') as err:
        proc = subprocess.Popen([sys.executable, '-m', 'newfilewatch', 'run', '--foreground',
                                 '--config', layout.config], stdout=subprocess.DEVNULL,
                                stderr=err, env=env)
    try:
        wait_for(lambda: 'watching' in layout.read(err_path), timeout=20, what='start')
        assert layout.read(err_path).count("'nfw-no-such-user' does not exist") == 1
        assert proc_status(proc.pid)['Uid'][0] == 0
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def _new_files_logged(layout):
    text = layout.read(layout.new_files_log)
    return {line.split(' >> ', 1)[1].rsplit(' | ', 1)[0] for line in text.splitlines()
            if ' >> ' in line}


@needs_root
def test_stop_is_prompt_with_a_long_queue_and_the_next_start_catches_up(base):
    """Issue 15: `stop` scanned the whole queue first, so a busy daemon outlived stop_timeout,
    was SIGKILLed and saved no catch-up time.  Here a restart catch-up queues thousands of
    files (real scans, a few ms each) and `stop` comes at once with stop_timeout = 1: the daemon
    exits in time, saves a catch-up time no later than the files it left, and the next start
    logs every one of them."""
    from newfilewatch import state
    www = os.path.join(base, 'www')
    os.mkdir(www)
    layout = Layout(base, www, 'root')
    with open(layout.config, 'w') as fh:
        fh.write(layout.config_text(stop_timeout=1))
    body = b'<?php\n// Render the greeting.\necho "Hello, " . htmlspecialchars($name) . "!";\n'
    files = []
    for i in range(20):
        sub = os.path.join(www, 'd%02d' % i)
        os.mkdir(sub)
        for j in range(100):
            path = os.path.join(sub, 'page%03d.php' % j)
            with open(path, 'wb') as fh:
                fh.write(body * 40)                       # 3 KB of plain PHP each
            files.append(path)
    os.makedirs(layout.state_dir)
    assert state.save(os.path.join(layout.state_dir, 'state.json'), time.time() - 3600)
    done = program(['start', '--config', layout.config])
    assert done.returncode == 0, done.stderr
    pid = layout.pid()
    try:
        stopped = program(['stop', '--config', layout.config], timeout=30)
        assert stopped.returncode == 0 and 'stopped' in stopped.stdout, stopped.stderr
        assert 'SIGKILL' not in stopped.stderr
        assert not alive(pid)
    finally:
        kill_quietly(pid)
    first = _new_files_logged(layout)
    left = [f for f in files if f not in first]
    mark = state.load(os.path.join(layout.state_dir, 'state.json'))
    assert left, 'the queue was empty before the stop: nothing tested'
    assert 'left to the catch-up scan' in layout.read(layout.log_file)
    assert mark <= min(os.stat(f).st_ctime for f in left)
    done = program(['start', '--config', layout.config])
    assert done.returncode == 0, done.stderr
    pid = layout.pid()
    try:
        wait_for(lambda: set(files) <= _new_files_logged(layout), timeout=120,
                 what='every file left by the first run in the new-files log')
    finally:
        program(['stop', '--config', layout.config], timeout=60)
        kill_quietly(pid)


@needs_root
def test_start_refuses_a_planted_spool_link_and_gives_root_left_logs_to_the_user(base):
    """Issue 15 (mkdir/chown race) and issue 11 (silent daemon): a spool dir swapped for a
    symlink makes `start` refuse, saying why, with the victim untouched; root-owned logs left
    by an old root run are given to the service user, and new files reach them."""
    www = os.path.join(base, 'www')
    os.mkdir(www)
    victim = os.path.join(base, 'victim')
    os.mkdir(victim, 0o755)
    with temp_user() as user:
        layout = Layout(base, www, user.name)
        layout.write_config()
        from newfilewatch import privileges
        privileges.prepare_dirs([layout.state_dir], user)
        os.makedirs(layout.log_dir, 0o755)                # root's, as an old root run left it
        spool = os.path.join(layout.state_dir, 'spool')
        os.symlink(victim, spool)
        os.chown(spool, user.uid, user.gid, follow_symlinks=False)
        done = program(['start', '--config', layout.config])
        assert done.returncode == 1
        assert 'not started' in done.stderr and 'spool' in done.stderr and 'symlink' in done.stderr
        assert os.stat(victim).st_uid == 0 and os.listdir(victim) == []
        os.unlink(spool)
        with open(layout.new_files_log, 'w') as fh:      # root's, as a root run left it
            fh.write('old line\n')
        done = program(['start', '--config', layout.config])
        assert done.returncode == 0, done.stderr
        pid = layout.pid()
        try:
            assert os.stat(layout.log_dir).st_uid == user.uid        # .../log/newfilewatch
            assert os.stat(os.path.dirname(layout.log_dir)).st_uid == 0   # .../log: not ours
            assert os.stat(layout.new_files_log).st_uid == user.uid
            with open(os.path.join(www, 'new.php'), 'wb') as fh:
                fh.write(b'<?php echo 1;\n')
            wait_for(lambda: 'new.php' in layout.read(layout.new_files_log), timeout=20,
                     what='the new file in the log the daemon was given')
            assert 'gave %s' % layout.new_files_log in layout.read(layout.log_file)
        finally:
            program(['stop', '--config', layout.config])
            kill_quietly(pid)


@needs_root
def test_a_daemon_that_cannot_write_its_new_files_log_does_not_start(base):
    www = os.path.join(base, 'www')
    os.mkdir(www)
    with temp_user() as user:
        layout = Layout(base, www, user.name)
        layout.write_config()
        from newfilewatch import privileges
        privileges.prepare_dirs([layout.log_dir], user)
        os.mkdir(layout.new_files_log)                   # cannot be opened as a file
        done = program(['start', '--config', layout.config])
        try:
            assert done.returncode == 1
            assert 'not a regular file' in done.stderr or 'new-files log' in done.stderr, \
                done.stderr
        finally:
            kill_quietly(layout.pid())
