"""[daemon] nice / ionice_*: values, a real process that applies them, and the real daemon started
as root (dropping to a throw-away user) seen through /proc/PID/stat and util-linux's `ionice -p`;
its hooks run as that user without the daemon's capability, and CapEff stays 0x4 with
auto_quarantine off and on."""
import json
import os
import subprocess
import sys
import tempfile

import pytest

from newfilewatch import privileges, throttle
from tests.support.service import (WEBSHELL, Layout, kill_quietly, needs_root, proc_status,
                                   program, pythonpath, rmtree, temp_user, wait_for)


def test_ioprio_values_and_the_option_syntax():
    assert throttle.ioprio_value('best-effort', 6) == (2 << 13) | 6
    assert throttle.ioprio_value('idle', 5) == 3 << 13              # idle has no levels
    assert throttle.parse_ionice('idle') == ('idle', 4)
    assert throttle.parse_ionice('best-effort:7') == ('best-effort', 7)
    assert throttle.parse_ionice('2:0') == ('best-effort', 0)
    for bad in ('fast', 'idle:9', 'best-effort:x'):
        with pytest.raises(ValueError):
            throttle.parse_ionice(bad)


def _nice_of(pid):
    with open('/proc/%d/stat' % pid) as fh:
        return int(fh.read().rpartition(')')[2].split()[16])     # field 19, "nice"


def _ionice_of(pid):
    return subprocess.check_output(['ionice', '-p', str(pid)], universal_newlines=True).strip()


def test_a_process_that_applies_them_shows_them_in_proc_and_ionice():
    code = ('import sys; from newfilewatch import throttle; '
            'print(throttle.apply(12, "best-effort", 6), flush=True); sys.stdin.read()')
    proc = subprocess.Popen([sys.executable, '-c', code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, universal_newlines=True,
                            env=dict(os.environ, PYTHONPATH=pythonpath()))
    try:
        assert proc.stdout.readline().strip() == '[]'
        assert _nice_of(proc.pid) == 12
        assert _ionice_of(proc.pid) == 'best-effort: prio 6'
    finally:
        proc.stdin.close()
        proc.wait(10)


def test_scan_takes_nice_and_ionice(tmp_path):
    target = tmp_path / 'x.php'
    target.write_bytes(b'<?php echo 1;')
    done = program(['scan', '--config', os.devnull, '--no-summary', '--nice', '5', '--ionice',
                    'idle', str(target)])
    assert done.returncode == 0 and done.stderr == ''
    bad = program(['scan', '--config', os.devnull, '--ionice', 'fast', str(target)])
    assert bad.returncode == 2 and 'the class is one of' in bad.stderr


HOOK = '''#!/bin/sh
# records who ran it, with which capabilities, and the alert it got on stdin
cat > "{out}/$$.json"
id -u > "{out}/$$.uid"
grep CapEff /proc/self/status > "{out}/$$.tmp" && mv "{out}/$$.tmp" "{out}/$$.caps"   # last
'''


@pytest.fixture
def base():
    path = tempfile.mkdtemp(prefix='nfw-throttle-')
    os.chmod(path, 0o755)
    yield path
    rmtree(path)


@needs_root
@pytest.mark.parametrize('auto', [False, True])
def test_the_daemon_runs_niced_with_one_capability_and_its_hooks_run_without(base, auto):
    www = os.path.join(base, 'www')
    os.mkdir(www, 0o755)
    with temp_user() as user:
        layout = Layout(base, www, user=user.name)
        out = os.path.join(base, 'out')
        os.mkdir(out, 0o700)
        os.chown(out, user.uid, user.gid)
        hook = os.path.join(base, 'hook.sh')
        with open(hook, 'w') as fh:
            fh.write(HOOK.format(out=out))
        os.chmod(hook, 0o755)
        text = layout.config_text() + ('nice = 7\nionice_class = best-effort\nionice_level = 6\n'
                                       '[hooks]\ncommand = %s\ntimeout = 20\n' % hook)
        if auto:   # the helper here only records what it got (sudo is not installed here)
            text += '[response]\nauto_quarantine = yes\nauto_quarantine_command = %s --auto\n' % hook
        layout.write_config(text)
        done = program(['start', '--config', layout.config])
        pid = layout.pid()
        try:
            assert done.returncode == 0, done.stderr
            assert _nice_of(pid) == 7 and _ionice_of(pid) == 'best-effort: prio 6'
            status = proc_status(pid)
            assert status['Uid'] == (user.uid,) * 4
            assert status['CapEff'] == privileges.cap_mask(privileges.CAP_DAC_READ_SEARCH) == 0x4
            assert status['CapPrm'] == 0x4
            with open(os.path.join(www, 'shell.php'), 'wb') as fh:
                fh.write(WEBSHELL)
            runs = 2 if auto else 1
            wait_for(lambda: len([n for n in os.listdir(out) if n.endswith('.caps')]) == runs,
                     timeout=20, what='%d hook run(s)' % runs)
            for name in os.listdir(out):
                if name.endswith('.tmp'):
                    continue
                path = os.path.join(out, name)
                with open(path) as fh:
                    text = fh.read()
                if name.endswith('.uid'):
                    assert int(text) == user.uid
                elif name.endswith('.caps'):
                    assert int(text.split()[1], 16) == 0      # exec dropped the capability
                else:
                    alert = json.loads(text)
                    assert alert['event'] == 'alert' and alert['path'] == os.path.join(www, 'shell.php')
            assert proc_status(pid)['CapEff'] == 0x4
        finally:
            program(['stop', '--config', layout.config])
            kill_quietly(pid)
