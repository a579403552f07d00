"""Helpers for the service tests: a real throw-away system user, a temp config whose every
writable path is in a temp dir, the program run as users run it, and waiting on conditions.
"""
import contextlib
import os
import pwd
import random
import shutil
import signal
import stat
import subprocess
import sys

import pytest

from newfilewatch import privileges
from tests.support.wait import wait_until as wait_for  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INIT_SCRIPT = os.path.join(ROOT, 'init.d', 'newfilewatch')
WEBSHELL = b'<?php if (isset($_REQUEST["c"])) { system($_REQUEST["c"]); } ?>\n'

# The RPM's %check sets NEWFILEWATCH_PURE_TESTS=1: no root there, or not to be used, and no
# runtime libraries (configobj, pyinotify, ...) for the program run as a process.
PURE = bool(os.environ.get('NEWFILEWATCH_PURE_TESTS'))
IS_ROOT = os.geteuid() == 0 and not PURE
needs_root = pytest.mark.skipif(not IS_ROOT, reason='needs root (useradd, setuid, capabilities)')
needs_runtime = pytest.mark.skipif(PURE, reason='runs the program: needs its runtime libraries')


def _run(argv):
    subprocess.check_call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def temp_user(prefix='nfwt'):
    """A real system user (and its own group) that exists only for the `with` block."""
    name = '%s%06d' % (prefix, random.randrange(10 ** 6))
    _run(['useradd', '--system', '--no-create-home', '--user-group',
          '--shell', '/usr/sbin/nologin', name])
    user = privileges.lookup(name)
    try:
        yield user
    finally:
        _end_processes_of(user.uid)
        subprocess.call(['userdel', name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.call(['groupdel', name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _pids_of(uid):
    pids = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:          # not st_uid of /proc/PID: a setuid'd process shows as root there
                if proc_status(int(entry))['Uid'][0] == uid and alive(int(entry)):
                    pids.append(int(entry))
            except (OSError, KeyError):
                pass
    return pids


def _end_processes_of(uid):
    """Kill what a failed test left running as its throw-away user, so userdel can work."""
    for pid in _pids_of(uid):
        kill_quietly(pid)
    wait_for(lambda: not _pids_of(uid), timeout=10, what='processes of uid %d to end' % uid)


def private_dir(path, owner, mode=0o750):
    """A directory owned by `owner` with `mode`: a customer's web root others may not read."""
    os.makedirs(path)
    os.chown(path, owner.uid, owner.gid)
    os.chmod(path, mode)
    return path


def write_private_file(path, data, owner, mode=0o640):
    """Land a file owned by `owner` at once, as move_uploaded_file() does: written under a name
    the daemon ignores, then renamed (written in place, the daemon could see it still root's)."""
    part = path + '.part'
    with open(part, 'wb') as fh:
        fh.write(data)
    os.chown(part, owner.uid, owner.gid)
    os.chmod(part, mode)
    os.rename(part, path)
    return path


class Layout(object):
    """Paths of one test's daemon: config, pidfile, logs, state, all under `base`."""

    def __init__(self, base, watch_dir, user=None):
        self.base = base
        self.watch_dir = watch_dir
        self.config = os.path.join(base, 'newfilewatch.conf')
        self.pidfile = os.path.join(base, 'run', 'newfilewatch', 'newfilewatch.pid')
        self.log_dir = os.path.join(base, 'log', 'newfilewatch')
        self.log_file = os.path.join(self.log_dir, 'newfilewatch.log')
        self.new_files_log = os.path.join(self.log_dir, 'newfiles.log')
        self.events_file = os.path.join(self.log_dir, 'events.jsonl')
        self.state_dir = os.path.join(base, 'lib', 'newfilewatch')
        self.user = user

    def config_text(self, stop_timeout=5):
        lines = ['[watch]', 'dirs = %s' % self.watch_dir, 'settle_delay = 0.2',
                 'state_file = %s/state.json' % self.state_dir,
                 '[log]', 'new_files_log = %s' % self.new_files_log,
                 'log_file = %s' % self.log_file, 'events_file = %s' % self.events_file,
                 'syslog = False', 'level = debug',
                 '[mail]', 'spool_dir = %s/spool' % self.state_dir,
                 '[daemon]', 'pidfile = %s' % self.pidfile, 'stop_timeout = %d' % stop_timeout]
        if self.user:
            lines.append('user = %s' % self.user)
        return '\n'.join(lines) + '\n'

    def write_config(self, text=None):
        with open(self.config, 'w') as fh:
            fh.write(self.config_text() if text is None else text)
        os.chmod(self.config, 0o644)            # the daemon re-reads it as its user on reload
        return self.config

    def pid(self):
        try:
            with open(self.pidfile) as fh:
                return int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def read(self, path):
        try:
            with open(path, 'rb') as fh:
                return fh.read().decode('utf-8', 'replace')
        except OSError:
            return ''


def program_wrapper(directory):
    """An executable that runs this checkout's newfilewatch, for NEWFILEWATCH_BIN."""
    path = os.path.join(directory, 'newfilewatch')
    with open(path, 'w') as fh:
        fh.write('#!/bin/sh\nPYTHONPATH=%s${PYTHONPATH:+:$PYTHONPATH} exec %s -m newfilewatch "$@"\n'
                 % (ROOT, sys.executable))
    os.chmod(path, 0o755)
    return path


def pythonpath():
    """This checkout first, then whatever PYTHONPATH the test run has."""
    extra = os.environ.get('PYTHONPATH')
    return ROOT + (':' + extra if extra else '')


def program(args, **kwargs):
    """Run `python -m newfilewatch ARGS` from this checkout; returns the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=pythonpath())
    env.update(kwargs.pop('env', {}))
    return subprocess.run([sys.executable, '-m', 'newfilewatch'] + list(args), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=kwargs.pop('timeout', 60), **kwargs)


def proc_status(pid):
    with open('/proc/%d/status' % pid) as fh:
        return privileges.parse_status(fh.read())


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as fh:
            return fh.read().rpartition(')')[2].split()[0] not in ('Z', 'X')
    except OSError:
        return False


def kill_quietly(pid, sig=signal.SIGKILL):
    if pid:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def owner_name(path):
    return pwd.getpwuid(os.stat(path).st_uid).pw_name


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
