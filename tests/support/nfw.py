"""Run newfilewatch the way a user does (a real process) and watch what it reports.

`Runner` starts `python -m newfilewatch run --foreground --events FILE ...` with a temp config
whose log, state and spool paths are inside the test's temp dir, then lets a test wait for an
event in the JSON stream (poll with a deadline, never a bare sleep).
"""
import json
import os
import signal
import subprocess
import sys
from tests.support.wait import wait_until  # noqa: F401  (re-exported)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEBSHELL = b'<?php if (isset($_REQUEST["c"])) { system($_REQUEST["c"]); } ?>\n'
BENIGN = b'<?php\n// Render the greeting.\necho "Hello, " . htmlspecialchars($name) . "!";\n'


def write_config(path, tmpdir, extra=''):
    """A config keeping every file the program writes inside `tmpdir`."""
    text = ('[watch]\nstate_file = {t}/state.json\nsettle_delay = 0.5\n'
            '[log]\nnew_files_log = {t}/newfiles.log\nlog_file = {t}/newfilewatch.log\n'
            'syslog = False\n[mail]\nspool_dir = {t}/spool\n'
            # as root, no drop: the test's temp dirs are root's whether or not the host has
            # the service user (the drop itself is tested in test_daemon)
            '[daemon]\nuser = root\n').format(t=tmpdir)
    with open(path, 'w') as fh:
        fh.write(merge_sections(text, extra))
    return path


def merge_sections(base, extra):
    """Append `extra` lines into the matching [section] of `base` (configobj forbids repeats)."""
    sections, order, current = {}, [], None
    for line in (base + '\n' + extra).splitlines():
        stripped = line.strip()
        if stripped.startswith('[') and stripped.endswith(']'):
            current = stripped
            if current not in sections:
                sections[current] = []
                order.append(current)
        elif stripped and current:
            key = stripped.split('=')[0].strip()
            sections[current] = [l for l in sections[current] if l.split('=')[0].strip() != key]
            sections[current].append(stripped)
    return ''.join('%s\n%s\n' % (s, '\n'.join(sections[s])) for s in order)


class Events(object):
    """Reads a JSON Lines event file as it grows."""

    def __init__(self, path):
        self.path = path
        self.seen = []
        self._offset = 0

    def poll(self):
        try:
            with open(self.path, 'rb') as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            return self.seen
        end = data.rfind(b'\n') + 1
        self._offset += end
        for line in data[:end].splitlines():
            self.seen.append(json.loads(line.decode('utf-8')))
        return self.seen

    def find(self, event, path=None):
        return [e for e in self.poll() if e['event'] == event and (path is None or e.get('path') == path)]

    def wait(self, event, path=None, timeout=10.0):
        return wait_until(lambda: self.find(event, path), timeout,
                          what='%s event for %s' % (event, path))[0]


class Runner(object):
    """A foreground `newfilewatch run` process with its event stream."""

    def __init__(self, tmpdir, watch, extra_config='', args=()):
        self.tmpdir = str(tmpdir)
        self.config = write_config(os.path.join(self.tmpdir, 'test.conf'), self.tmpdir, extra_config)
        self.events = Events(os.path.join(self.tmpdir, 'events.jsonl'))
        watch = [watch] if isinstance(watch, str) else list(watch)
        cmd = [sys.executable, '-m', 'newfilewatch', 'run', '--foreground', '--config', self.config,
               '--events', self.events.path] + sum((['--watch', w] for w in watch), []) + list(args)
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.stdout = open(os.path.join(self.tmpdir, 'stdout'), 'wb')
        self.stderr = open(os.path.join(self.tmpdir, 'stderr'), 'wb')
        self.proc = subprocess.Popen(cmd, stdout=self.stdout, stderr=self.stderr, env=env, cwd=ROOT)

    def ready(self, timeout=20.0):
        def check():
            if self.proc.poll() is not None:
                raise AssertionError('newfilewatch exited %s: %s' % (self.proc.returncode,
                                                                    self.err()))
            return self.events.find('ready')
        return wait_until(check, timeout, what='ready event')[0]

    def err(self):
        with open(os.path.join(self.tmpdir, 'stderr'), 'rb') as fh:
            return fh.read().decode('utf-8', 'replace')

    def out(self):
        with open(os.path.join(self.tmpdir, 'stdout'), 'rb') as fh:
            return fh.read().decode('utf-8', 'replace')

    def signal(self, signum):
        self.proc.send_signal(signum)

    def stop(self, timeout=20.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stdout.close()
        self.stderr.close()
        return self.proc.returncode


def write_file(path, data):
    with open(path, 'wb') as fh:
        fh.write(data)
    return path
