"""`newfilewatch scan` as an admin runs it: real processes, a real pty, real signals, a local
HTTP server standing in for WordPress.org."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from newfilewatch import scancmd
from newfilewatch.model import finding
from tests.support.nfw import BENIGN, ROOT, WEBSHELL, write_config
from tests.support.wait import wait_until
from tests.support.wpsite import CORE_FILES, ChecksumServer, core_checksums, make_site, write

LINE = re.compile(r'^(?P<path>.+): (?P<rules>[a-z0-9_.]+(?:, [a-z0-9_.]+)*) '
                  r'\(score (?P<score>\d+)\) sha256=(?P<sha>[0-9a-f]{64})$')


def nfw(*args, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, '-m', 'newfilewatch'] + list(args), env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=kw.pop('timeout', 120), **kw)


def summary(stderr):
    out = {}
    for line in stderr.split('----------- SCAN SUMMARY -----------', 1)[1].splitlines():
        if ': ' in line:
            key, value = line.split(': ', 1)
            out[key] = value
    return out


@pytest.fixture
def conf(tmp_path):
    """A config whose checksum cache is in the test's dir (never /var/lib/newfilewatch)."""
    return write_config(str(tmp_path / 'scan.conf'), str(tmp_path),
                        '[integrity]\ncache_dir = %s\n' % (tmp_path / 'cache'))


def small_tree(root):
    write(os.path.join(root, 'sub', 'shell.php'), WEBSHELL)
    write(os.path.join(root, 'index.php'), BENIGN)
    return root


def generated_tree(root, n=120):
    """Shells of several kinds, benign code, a symlink and a FIFO: something for every path."""
    kinds = [WEBSHELL, BENIGN, b'<?php eval(base64_decode($_POST["p"]));',
             b'<?php echo "plain";', b'GIF89a<?php system($_GET[1]); ?>',
             b'<?php $f = $_GET["f"]; $f($_GET["a"]);', b'AddType application/x-httpd-php .jpg\n']
    names = ['a.php', 'b.php', 'c.php', 'd.txt', 'e.gif', 'f.php', '.htaccess']
    for i in range(n):
        k = i % len(kinds)
        write(os.path.join(root, 'd%02d' % (i // 10), '%d-%s' % (i, names[k]) if k != 6
                           else '.htaccess'), kinds[k] + b'\n// ' + str(i).encode())
    os.symlink('/etc/passwd', os.path.join(root, 'd00', 'pw.php'))
    os.mkfifo(os.path.join(root, 'd01', 'pipe.php'))
    return root


def test_lines_summary_and_exit_codes(tmp_path, conf):
    www = small_tree(str(tmp_path / 'www'))
    res = nfw('scan', '--config', conf, www)
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 1
    m = LINE.match(lines[0])
    assert m and m.group('path') == os.path.join(www, 'sub', 'shell.php')
    assert 'php.exec.request_input' in m.group('rules') and int(m.group('score')) >= 10
    s = summary(res.stderr)
    assert (s['Scanned files'], s['Suspicious files'], s['Unreadable'],
            s['Known good (skipped)']) == ('2', '1', '0', '0')
    assert s['Data scanned'].endswith(' MB') and 'files/s' in s['Rate'] and 'sec' in s['Time']
    assert '\r' not in res.stderr and '\x1b[K' not in res.stderr   # no progress into a pipe
    assert not os.path.exists(str(tmp_path / 'cache'))   # no WordPress: no cache dir made
    everything = nfw('scan', '--config', conf, '--all', www).stdout.splitlines()
    assert sorted(everything)[0] == '%s: OK' % os.path.join(www, 'index.php')
    assert nfw('scan', '--config', conf, '--all', '-i', www).stdout.splitlines() == lines
    verbose = nfw('scan', '--config', conf, '-v', '--no-summary', www)
    assert re.search(r'^%s:1:<\?php if \(isset' % re.escape(os.path.join(www, 'sub', 'shell.php')),
                     verbose.stdout, re.M)
    assert '  ^ php.exec.request_input (critical)' in verbose.stdout
    assert 'SCAN SUMMARY' not in verbose.stderr
    os.remove(os.path.join(www, 'sub', 'shell.php'))
    assert nfw('scan', '--config', conf, www).returncode == 0
    res = nfw('scan', '--config', conf, str(tmp_path / 'nope'))
    assert res.returncode == 2 and 'nope: ERROR No such file' in res.stderr


def test_json_records_keep_their_shape(tmp_path, conf):
    www = small_tree(str(tmp_path / 'www'))
    res = nfw('scan', '--config', conf, '--json', www)
    records = [json.loads(l) for l in res.stdout.splitlines()]
    assert [r['event'] for r in records] == ['alert']
    from newfilewatch import formatting
    from newfilewatch.model import finding
    same = json.loads(formatting.event('alert', 0, finding('x', suspicious=True)))
    assert set(records[0]) == set(same)            # what the daemon's alert event carries
    assert {'path', 'owner', 'size', 'sha256', 'score', 'hits'} <= set(records[0])


def test_any_error_is_2_even_a_broken_config(tmp_path):
    www = small_tree(str(tmp_path / 'www'))
    bad = tmp_path / 'bad.conf'
    for text, said in (('[watch\n', 'line 1'), ('[scan]\ndisabled_rules = no.such.rule\n',
                                                'no.such.rule'),
                       ('[integrity]\ncore_checksums_url = ftp://x/{version}\n', 'http(s)')):
        bad.write_text(text)
        res = nfw('scan', '--config', str(bad), www)
        assert res.returncode == 2 and said in res.stderr, text
    bad.write_text('[scan]\ndisabled_rules = integrity.modified, integrity.unexpected\n'
                   '[integrity]\ncache_dir = %s\n' % (tmp_path / 'cache'))
    assert nfw('check-config', '--config', str(bad)).returncode == 0
    listed = nfw('rules').stdout
    assert re.search(r'^integrity\.modified +high', listed, re.M)
    assert re.search(r'^integrity\.unexpected +high', listed, re.M)


def test_parallel_findings_equal_one_job(tmp_path, conf):
    tree = generated_tree(str(tmp_path / 'tree'))

    def findings(jobs):
        res = nfw('scan', '--config', conf, '--json', '--all', '-j', str(jobs), tree)
        assert res.returncode == 1, res.stderr
        assert summary(res.stderr)['Jobs'] == str(jobs)
        records = [json.loads(l) for l in res.stdout.splitlines()]
        for r in records:
            del r['time']
        return sorted(records, key=lambda r: r['path'])

    one, two = findings(1), findings(2)
    assert len(one) > 100 and sum(r['event'] == 'alert' for r in one) > 40
    assert one == two


def test_default_jobs_are_the_usable_cpus(tmp_path, conf):
    www = small_tree(str(tmp_path / 'www'))
    res = nfw('scan', '--config', conf, www)
    assert summary(res.stderr)['Jobs'] == str(len(os.sched_getaffinity(0)))
    pinned = subprocess.run(['taskset', '-c', '0', sys.executable, '-m', 'newfilewatch', 'scan',
                             '--config', conf, www], env=dict(os.environ, PYTHONPATH=ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=60)
    assert summary(pinned.stderr)['Jobs'] == '1'


def test_an_unreadable_file_does_not_stop_the_others(tmp_path, conf):
    www = small_tree(str(tmp_path / 'www'))
    # /proc/self/mem is a regular file that even root cannot read at offset 0 (EIO)
    res = nfw('scan', '--config', conf, '-j', '2', '/proc/self/mem', www)
    assert res.returncode == 1
    assert '/proc/self/mem: ERROR' in res.stderr
    assert summary(res.stderr)['Unreadable'] == '1' and len(res.stdout.splitlines()) == 1


def _crash_or_hang(path):
    if path == 'crash':
        os._exit(3)                  # as the kernel's OOM killer or a segfault would end it
    if path == 'hang':
        time.sleep(600)              # as catastrophic backtracking on a hostile file would
    return path


def test_a_worker_that_dies_or_hangs_costs_one_file():
    paths = ['p%d' % i for i in range(40)]
    paths[7], paths[23] = 'crash', 'hang'
    pool = scancmd.Pool(2, _crash_or_hang, file_timeout=1.0)
    try:
        got = list(pool.run(paths))
    finally:
        pool.close()
    results = sorted(item[1] for item in got if item[0] == 'result')
    errors = sorted((item[1], item[2].split(' ')[0]) for item in got if item[0] == 'error')
    assert results == sorted(p for p in paths if p not in ('crash', 'hang'))
    assert errors == [('crash', 'the'), ('hang', 'took')]
    assert all(w.proc.exitcode is not None for w in pool.workers)


def _session_pids(sid):
    pids = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def test_sigint_stops_cleanly_with_a_partial_summary(tmp_path, conf):
    tree = str(tmp_path / 'big')
    for i in range(3000):
        write(os.path.join(tree, 'd%02d' % (i % 50), '%d.php' % i), WEBSHELL + b'//%d' % i)
    proc = subprocess.Popen([sys.executable, '-m', 'newfilewatch', 'scan', '--config', conf,
                             '-j', '2', tree], env=dict(os.environ, PYTHONPATH=ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith(tree.encode())
        os.kill(proc.pid, signal.SIGINT)           # the real process, as Ctrl-C's first target
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = err.decode()
    assert proc.returncode == 130, err
    assert 'Interrupted' in err and 'Traceback' not in err
    scanned = int(summary(err)['Scanned files'])
    assert 1 <= scanned < 3000 and scanned >= len(out.splitlines())
    wait_until(lambda: not _session_pids(proc.pid), timeout=10, what='workers gone')


def test_progress_line_only_on_a_terminal(tmp_path, conf):
    tree = generated_tree(str(tmp_path / 'tree'), n=300)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, '-m', 'newfilewatch', 'scan', '--config', conf,
                             '-j', '2', tree], env=dict(os.environ, PYTHONPATH=ROOT),
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = b''
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:              # EIO: the last writer closed the pty
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(30) == 1
    text = seen.decode('utf-8', 'replace')
    assert '\r\x1b[K' in text and re.search(r'\d+ files, [\d.]+ MB, \d+ files/s', text)
    assert 'SCAN SUMMARY' in text


@pytest.fixture
def server():
    s = ChecksumServer()
    yield s
    s.close()


def test_a_wordpress_tree_modified_and_unexpected_files_and_the_rest_known_good(tmp_path, server):
    site = make_site(str(tmp_path / 'www' / 'site'))
    server.serve_core(core_checksums())
    server.serve_plugin('1.0')
    login = os.path.join(site, 'wp-login.php')
    write(login, CORE_FILES['wp-login.php'] + b'$x = 1;\n')       # injected, yet no rule fires
    extra = os.path.join(site, 'wp-includes', 'css', 'dist.php')
    write(extra, b'<?php echo "hello";\n')
    conf = write_config(str(tmp_path / 'wp.conf'), str(tmp_path), server.config(
        str(tmp_path / 'cache')))
    res = nfw('scan', '--config', conf, '-j', '2', str(tmp_path / 'www'))
    assert res.returncode == 1, res.stderr
    lines = {LINE.match(l).group('path'): LINE.match(l).group('rules')
             for l in res.stdout.splitlines()}
    assert lines == {login: 'integrity.modified', extra: 'integrity.unexpected'}
    s = summary(res.stderr)
    # 7 core files - wp-login.php + version.php + 3 plugin files; wp-config.php is analysed
    assert (s['Scanned files'], s['Known good (skipped)'], s['Suspicious files'],
            s['Jobs']) == ('13', '10', '2', '2')
    assert sorted(server.hits) == ['/core/checksums/1.0/?version=6.4.2&locale=en_US',
                                   '/plugin-checksums/hello-there/1.0.json']   # once per list
    again = nfw('scan', '--config', conf, '-j', '2', '-v', str(tmp_path / 'www'))
    assert '%s:0:differs from the published checksum of WordPress 6.4.2' % login in again.stdout
    assert len(server.hits) == 2                     # the second scan read the cache


def test_a_wordpress_tree_offline_is_judged_by_the_rules_and_said_once(tmp_path):
    site = make_site(str(tmp_path / 'www' / 'site'))
    conf = write_config(str(tmp_path / 'off.conf'), str(tmp_path), (
        '[integrity]\ncore_checksums_url = http://127.0.0.1:9/c?v={version}&l={locale}\n'
        'plugin_checksums_url = http://127.0.0.1:9/p/{slug}/{version}\ncache_dir = %s\n')
        % (tmp_path / 'cache'))
    res = nfw('scan', '--config', conf, '-j', '2', str(tmp_path / 'www'))
    assert res.returncode == 1
    flagged = [LINE.match(l).group('path') for l in res.stdout.splitlines()]
    assert sorted(flagged) == sorted([
        os.path.join(site, 'wp-includes', 'class-wp-shell.php'),
        os.path.join(site, 'wp-content', 'plugins', 'hello-there', 'inc', 'run.php')])
    assert res.stderr.count('http://127.0.0.1:9/c?v=6.4.2') == 1
    assert summary(res.stderr)['Known good (skipped)'] == '0'


def test_summary_and_progress_text():
    t = scancmd.Tally(max_bytes=100)
    for f in (finding('a', size=50, sha256='x'), finding('b', size=500, sha256='y',
                                                         suspicious=True),
              finding('c', size=10, sha256='z', known_good=True), finding('d', kind='symlink')):
        t.add(f)
    t.errors = 1
    lines = scancmd.summary_lines(t, 2.0, 2)
    assert 'Scanned files: 4' in lines and 'Data scanned: 0.00 MB' in lines
    assert 'Suspicious files: 1' in lines and 'Known good (skipped): 1' in lines
    assert 'Unreadable: 1' in lines and 'Rate: 2.0 files/s, 0.00 MB/s' in lines
    assert t.bytes == 160                        # a big file counts what was read of it
    assert 'Interrupted' in scancmd.summary_lines(t, 2.0, 2, interrupted=True)[2]
    assert scancmd.progress_line(t, 2.0) == '4 files, 0.0 MB, 2 files/s, 1 suspicious'
    assert scancmd.progress_line(t, 2.0, total=8).endswith(', 50%, ETA 0:00:02')
