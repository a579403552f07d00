"""[hooks] command: real programs (Python scripts written here) get the alert JSON on stdin;
a hanging hook is killed with its process group and never holds up watching."""
import json
import os
import sys
import textwrap

import pytest

from newfilewatch import hooks
from tests.support.nfw import WEBSHELL, Runner, wait_until, write_file


def _script(path, body):
    """An executable Python script (run by this test's interpreter, found by absolute path)."""
    with open(path, 'w') as fh:
        fh.write('#!%s\n' % sys.executable + textwrap.dedent(body))
    os.chmod(path, 0o755)
    return path


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as fh:
            return fh.read().rpartition(')')[2].split()[0] not in ('Z', 'X')
    except OSError:
        return False


def test_parse_command_splits_without_a_shell_and_wants_an_absolute_path():
    assert hooks.parse_command('/usr/local/bin/notify --to "ops team" $HOME') == [
        '/usr/local/bin/notify', '--to', 'ops team', '$HOME']
    for bad in ('', 'notify --x', '   '):
        with pytest.raises(ValueError):
            hooks.parse_command(bad)


def test_first_lines_and_descriptions_are_short():
    assert hooks.first_lines(b'\n a \n\nb\nc\nd\ne\nf\n') == [' a', 'b', 'c', 'd', 'e']
    assert hooks.first_lines(b'x' * 500, width=10) == ['x' * 10]
    assert hooks.describe(hooks.HookResult('ok', 0, b'', 0.1), 5) == 'exit 0'
    assert hooks.describe(hooks.HookResult('failed', -9, b'', 0.1), 5) == 'killed by signal 9'
    assert 'timed out after 5 s' in hooks.describe(hooks.HookResult('timeout', -9, b'', 5), 5)


def test_a_real_program_gets_stdin_and_its_status_and_output_come_back(tmp_path):
    got = str(tmp_path / 'got')
    prog = _script(str(tmp_path / 'hook.py'), '''
        import sys
        data = sys.stdin.buffer.read()
        open(%r, 'wb').write(data)
        print('line one'); print('line two')
        sys.exit(3)
        ''' % got)
    data = json.dumps({'event': 'alert', 'path': '/x/\\n.php'}).encode() * 4000   # > a pipe buffer
    result = hooks.run_hook([prog], data, timeout=20)
    assert result.status == 'failed' and result.code == 3
    assert hooks.first_lines(result.output) == ['line one', 'line two']
    with open(got, 'rb') as fh:
        assert fh.read() == data


def test_output_is_bounded_and_a_missing_program_is_reported(tmp_path):
    prog = _script(str(tmp_path / 'spew.py'), '''
        import sys
        for _ in range(2000):
            sys.stdout.write('y' * 1000 + '\\n')
        ''')
    result = hooks.run_hook([prog], b'{}', timeout=20, keep=4096)
    assert result.status == 'ok' and len(result.output) == 4096
    missing = hooks.run_hook([str(tmp_path / 'nope')], b'{}', timeout=5)
    assert missing.status == 'cannot run' and b'No such file' in missing.output


def test_a_hanging_hook_is_killed_with_its_whole_process_group(tmp_path):
    pids = str(tmp_path / 'pids')
    prog = _script(str(tmp_path / 'hang.py'), '''
        import os, subprocess, time
        child = subprocess.Popen(['sleep', '300'])
        open(%r, 'w').write('%%d %%d' %% (os.getpid(), child.pid))
        time.sleep(300)
        ''' % pids)
    result = hooks.run_hook([prog], b'{}', timeout=2)
    assert result.status == 'timeout'
    own, child = [int(p) for p in open(pids).read().split()]
    wait_until(lambda: not _alive(own) and not _alive(child), timeout=10,
               what='the hook and its child to be gone')


def test_the_runner_keeps_at_most_max_running_and_never_blocks(tmp_path):
    gate = str(tmp_path / 'go')
    runs = tmp_path / 'runs'
    runs.mkdir()
    prog = _script(str(tmp_path / 'wait.py'), '''
        import os, sys, time
        me = os.path.join(%r, str(os.getpid()))
        running = [n for n in os.listdir(%r) if not n.endswith('.done')]
        open(me, 'w').write(str(len(running) + 1))   # how many run at once, me included
        while not os.path.exists(%r):
            time.sleep(0.02)
        os.rename(me, me + '.done')
        ''' % (str(runs), str(runs), gate))
    results = []
    runner = hooks.HookRunner([prog], timeout=30, max_running=2, max_queued=3,
                              on_done=lambda r, path, res, words, lines: results.append(res)).start()
    try:
        assert runner.submit(b'{}', '/www/a.php') and runner.submit(b'{}', '/www/b.php')
        wait_until(lambda: len(os.listdir(str(runs))) == 2, what='two hooks running')
        accepted = [runner.submit(b'{}', '/www/%d.php' % i) for i in range(6)]
        # 2 running, 3 queued, the rest refused at once (the main loop never waits for a hook)
        assert accepted == [True] * 3 + [False] * 3 and runner.counts['dropped'] == 3
        open(gate, 'w').close()
        wait_until(lambda: len(results) == 5, timeout=20, what='five hook runs')
        assert all(r.status == 'ok' for r in results)
        concurrent = [int(open(str(runs / n)).read()) for n in os.listdir(str(runs))
                      if n.endswith('.done')]
        assert len(concurrent) == 5 and max(concurrent) <= 2
    finally:
        runner.close()


def test_every_alert_reaches_the_hook_as_the_alert_event_and_a_hang_blocks_nothing(tmp_path):
    www = tmp_path / 'www'
    www.mkdir()
    out = tmp_path / 'out'
    out.mkdir()
    prog = _script(str(tmp_path / 'hook.py'), '''
        import json, os, sys, time
        alert = json.loads(sys.stdin.read())
        name = os.path.basename(alert['path'])
        open(os.path.join(%r, name + '.json'), 'w').write(json.dumps(alert))
        print('got', name)
        if name.startswith('hang'):
            time.sleep(300)
        ''' % str(out))
    runner = Runner(tmp_path, str(www), extra_config='[hooks]\ncommand = %s --flag\ntimeout = 3\n'
                    'max_running = 1\n' % prog)
    try:
        runner.ready()
        write_file(str(www / 'hang.php'), WEBSHELL)
        wait_until(lambda: os.path.exists(str(out / 'hang.php.json')), what='the first hook')
        # the only hook slot is busy hanging: watching and alerting go on regardless
        write_file(str(www / 'next.php'), WEBSHELL)
        runner.events.wait('alert', str(www / 'next.php'))
        hung = runner.events.wait('hook', str(www / 'hang.php'), timeout=15)
        assert hung['status'] == 'timeout' and hung['output'] == ['got hang.php']
        done = runner.events.wait('hook', str(www / 'next.php'), timeout=15)
        assert done['status'] == 'ok' and done['exit'] == 0
        event = runner.events.find('alert', str(www / 'next.php'))[0]
        with open(str(out / 'next.php.json')) as fh:
            assert json.load(fh) == event              # the same object as the alert event
        assert event['quarantine'].startswith('newfilewatch quarantine --sha256 ')
    finally:
        runner.stop()


def test_a_reload_switches_to_the_new_hook(tmp_path):
    import signal
    www = tmp_path / 'www'
    www.mkdir()
    marks = tmp_path / 'marks'
    marks.mkdir()
    first = _script(str(tmp_path / 'first.py'), 'open(%r, "a").write("first\\n")\n'
                    % str(marks / 'log'))
    second = _script(str(tmp_path / 'second.py'), 'open(%r, "a").write("second\\n")\n'
                     % str(marks / 'log'))
    runner = Runner(tmp_path, str(www), extra_config='[hooks]\ncommand = %s\n' % first)
    try:
        runner.ready()
        write_file(str(www / 'a.php'), WEBSHELL)
        runner.events.wait('hook', str(www / 'a.php'))
        with open(runner.config) as fh:
            text = fh.read()
        with open(runner.config, 'w') as fh:
            fh.write(text.replace(first, second))
        runner.signal(signal.SIGHUP)
        runner.events.wait('reloaded')
        write_file(str(www / 'b.php'), WEBSHELL + b'//b\n')
        runner.events.wait('hook', str(www / 'b.php'))
    finally:
        runner.stop()
    with open(str(marks / 'log')) as fh:
        assert fh.read() == 'first\nsecond\n'
