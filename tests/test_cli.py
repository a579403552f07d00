"""The commands as users run them: real processes, real inotify, a real SMTP server."""
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.support.nfw import BENIGN, ROOT, WEBSHELL, Runner, wait_until, write_config, write_file
from tests.support.smtp import free_port, smtp_server  # noqa: F401  (fixture)


def nfw(*args, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, '-m', 'newfilewatch'] + list(args), env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=kw.get('timeout', 120))


@pytest.fixture
def runner(tmp_path):
    made = []

    def make(watch, extra='', args=()):
        r = Runner(tmp_path, watch, extra, args)
        made.append(r)
        return r
    yield make
    for r in made:
        r.stop()


def test_run_reports_a_webshell_through_every_sink(tmp_path, runner):
    www = tmp_path / 'www'
    www.mkdir()
    r = runner(str(www))
    assert r.ready()['watches'] == 1
    write_file(str(www / 'x.php'), WEBSHELL)
    write_file(str(www / 'ok.php'), BENIGN)
    alert = r.events.wait('alert', str(www / 'x.php'))
    assert alert['hits'] and alert['owner'] and len(alert['sha256']) == 64
    assert all({'rule', 'line', 'text'} <= set(h) for h in alert['hits'])
    r.events.wait('new_file', str(www / 'ok.php'))
    assert not r.events.find('alert', str(www / 'ok.php'))
    log = wait_until(lambda: open(str(tmp_path / 'newfiles.log')).read().count('\n') >= 2 and
                     open(str(tmp_path / 'newfiles.log')).read(), what='new-files log')
    assert ' >> %s | ' % (www / 'x.php') in log
    assert wait_until(lambda: 'ALERT %s' % (www / 'x.php') in r.err(), what='alert on stderr')
    assert ' >> %s | ' % (www / 'ok.php') in r.out()


def _user_exists(name):
    import pwd
    try:
        return bool(pwd.getpwnam(name))
    except KeyError:
        return False


def test_built_in_defaults_need_no_config_file(tmp_path):
    """The README's first command: no --config, no /etc/newfilewatch.conf."""
    if os.path.exists('/etc/newfilewatch.conf'):
        pytest.skip('/etc/newfilewatch.conf exists here')
    www = tmp_path / 'www'
    www.mkdir()
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = open(str(tmp_path / 'out'), 'w')
    err = open(str(tmp_path / 'err'), 'w')
    # As root the defaults write /var/log/newfilewatch and /var/lib/newfilewatch: give the
    # process its own empty ones (a private mount namespace), so the real ones stay untouched
    # and the dirs really do not exist yet, as for a newcomer.
    private = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
               'mount -t tmpfs none /var/log && mount -t tmpfs none /var/lib && exec "$@"',
               'sh'] if os.geteuid() == 0 else []
    proc = subprocess.Popen(private + [sys.executable, '-m', 'newfilewatch', 'run', '--foreground',
                                       '--watch', str(www)], stdout=out, stderr=err, env=env,
                            cwd=ROOT)
    try:
        read = lambda name: open(str(tmp_path / name)).read()   # noqa: E731
        wait_until(lambda: 'watching 1 dirs' in read('err'), timeout=20, what='start')
        write_file(str(www / 'shell.php'), WEBSHELL)
        wait_until(lambda: 'ALERT %s' % (www / 'shell.php') in read('err'), what='alert')
        assert ' >> %s | ' % (www / 'shell.php') in read('out')
        if os.geteuid() == 0 and not _user_exists('fsniper'):    # said once, and it ran on
            assert read('err').count("user 'fsniper' does not exist") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        out.close()
        err.close()


def test_hostile_names_stay_one_line_everywhere(tmp_path, runner):
    www = tmp_path / 'www'
    www.mkdir()
    r = runner(str(www))
    r.ready()
    name = b'evil\n2026-01-01 00:00 >> fake | root\x1b[2J\xff.php'
    write_file(os.path.join(os.fsencode(str(www)), name), WEBSHELL)
    shown = str(www) + '/evil\\n2026-01-01 00:00 >> fake | root\\x1b[2J\\xff.php'
    r.events.wait('alert', shown)
    log = wait_until(lambda: open(str(tmp_path / 'newfiles.log')).read(), what='log')
    assert log.count('\n') == 1 and shown in log


def test_mail_alert_reaches_a_real_smtp_server(tmp_path, runner, smtp_server):
    www = tmp_path / 'www'
    www.mkdir()
    r = runner(str(www), '[mail]\nto = admin@example.org\nmethod = smtp\nsmtp_host = 127.0.0.1\n'
                         'smtp_port = %d\nbatch_window = 1\n' % smtp_server.port)
    r.ready()
    write_file(str(www / 'a.php'), WEBSHELL)
    write_file(str(www / 'b.php'), WEBSHELL + b'// another\n')
    msg = smtp_server.wait_messages(1, timeout=30)[0]
    assert msg['Subject'].endswith('| Found something suspicious')
    body = msg.get_content()
    assert body.startswith('Server: ')
    assert '%s:' % (www / 'a.php') in body
    assert '%s:' % (www / 'b.php') in body            # both within the window: one mail
    assert len(smtp_server.messages()) == 1


def test_sighup_applies_a_good_config_and_refuses_a_broken_one(tmp_path, runner):
    a, b = tmp_path / 'a', tmp_path / 'b'
    a.mkdir()
    b.mkdir()
    r = runner(str(a))
    r.ready()
    with open(r.config, 'a') as fh:                  # broken: the old config must keep running
        fh.write('\n[watch\n')
    r.signal(signal.SIGHUP)
    r.events.wait('error')
    assert 'reload refused' in r.events.find('error')[0]['message']
    write_file(str(a / 'still.php'), WEBSHELL)
    r.events.wait('alert', str(a / 'still.php'))
    write_config(r.config, r.tmpdir, '[watch]\nexclude = */skip/*\n')
    (a / 'skip').mkdir()
    r.signal(signal.SIGHUP)
    r.events.wait('reloaded')
    write_file(str(a / 'skip' / 'x.php'), WEBSHELL)    # newly excluded
    write_file(str(a / 'after.php'), WEBSHELL)
    r.events.wait('alert', str(a / 'after.php'))
    assert not r.events.find('new_file', str(a / 'skip' / 'x.php'))
    assert r.proc.poll() is None


def test_sigusr1_reopens_the_new_files_log(tmp_path, runner):
    www = tmp_path / 'www'
    www.mkdir()
    r = runner(str(www))
    r.ready()
    write_file(str(www / 'one.php'), BENIGN)
    r.events.wait('new_file', str(www / 'one.php'))
    os.rename(str(tmp_path / 'newfiles.log'), str(tmp_path / 'newfiles.log.1'))  # logrotate
    r.signal(signal.SIGUSR1)
    wait_until(lambda: os.path.exists(str(tmp_path / 'newfiles.log')), what='reopened log')
    write_file(str(www / 'two.php'), BENIGN)
    r.events.wait('new_file', str(www / 'two.php'))
    assert 'two.php' in open(str(tmp_path / 'newfiles.log')).read()
    assert 'two.php' not in open(str(tmp_path / 'newfiles.log.1')).read()


def test_files_written_while_stopped_are_scanned_at_the_next_start(tmp_path, runner):
    www = tmp_path / 'www'
    www.mkdir()
    r = runner(str(www))
    r.ready()
    assert r.stop() == 0
    assert os.path.exists(str(tmp_path / 'state.json'))
    write_file(str(www / 'while-down.php'), WEBSHELL)
    os.rename(str(tmp_path / 'events.jsonl'), str(tmp_path / 'events.old'))
    r2 = runner(str(www))
    r2.ready()
    alert = r2.events.wait('alert', str(www / 'while-down.php'))
    assert alert['synthetic'] is True


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to lower fs.inotify.max_queued_events')
def test_burst_with_queue_overflow_loses_no_file(tmp_path, runner):
    www = tmp_path / 'www'
    www.mkdir()
    path = '/proc/sys/fs/inotify/max_queued_events'
    saved = open(path).read()
    with open(path, 'w') as fh:
        fh.write('32')
    try:
        r = runner(str(www), '[watch]\nbackend = inotify')    # the inotify queue is lowered
        r.ready()
    finally:
        with open(path, 'w') as fh:
            fh.write(saved)
    names = ['f%04d.php' % i for i in range(2000)]
    r.signal(signal.SIGSTOP)             # the reader is fast: freeze it so the queue must overflow
    try:
        for i, name in enumerate(names):
            write_file(str(www / name), WEBSHELL if i % 100 == 0 else BENIGN)
    finally:
        r.signal(signal.SIGCONT)
    want = set(str(www / n) for n in names)
    wait_until(lambda: want <= set(e['path'] for e in r.events.find('new_file')), timeout=60,
               what='all 2000 files')
    alerted = set(e['path'] for e in r.events.find('alert'))
    assert alerted == set(str(www / n) for i, n in enumerate(names) if i % 100 == 0)
    assert 'queue overflowed' in r.err()


def write_tree(root):
    os.makedirs(os.path.join(root, 'sub', 'wp-content', 'cache'))
    write_file(os.path.join(root, 'sub', 'shell.php'), WEBSHELL)
    write_file(os.path.join(root, 'sub', 'wp-content', 'cache', 'c.php'), WEBSHELL)
    write_file(os.path.join(root, 'index.php'), BENIGN)


def test_scan_exit_codes_are_clamscan_like(tmp_path):
    write_tree(str(tmp_path / 'www'))
    res = nfw('scan', str(tmp_path / 'www'))
    assert res.returncode == 1
    assert res.stdout.splitlines()[0].startswith('%s: ' % (tmp_path / 'www' / 'sub' / 'shell.php'))
    assert 'cache' not in res.stdout                          # excluded as the watcher would
    clean = tmp_path / 'clean'
    clean.mkdir()
    write_file(str(clean / 'index.php'), BENIGN)
    assert nfw('scan', str(clean)).returncode == 0
    res = nfw('scan', str(tmp_path / 'nope'))
    assert res.returncode == 2 and 'ERROR' in res.stderr


def test_scan_json_gives_hits(tmp_path):
    write_tree(str(tmp_path / 'www'))
    res = nfw('scan', '--json', str(tmp_path / 'www'))
    records = [json.loads(l) for l in res.stdout.splitlines()]
    assert [r['path'] for r in records] == [str(tmp_path / 'www' / 'sub' / 'shell.php')]
    assert records[0]['hits'][0]['line'] >= 1


def test_check_config_says_every_problem(tmp_path):
    good = write_config(str(tmp_path / 'good.conf'), str(tmp_path))
    res = nfw('check-config', '--config', good)
    assert res.returncode == 0 and 'OK' in res.stdout
    bad = tmp_path / 'bad.conf'
    bad.write_text('[watch]\nsettle_delay = x\nfoo = 1\n')
    res = nfw('check-config', '--config', str(bad))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert any('line 2: [watch] settle_delay' in l for l in lines)
    assert any('line 3: [watch] foo: unknown key' in l for l in lines)
    bad.write_text('[scan]\ndisabled_rules = no.such.rule\n')
    res = nfw('check-config', '--config', str(bad))
    assert res.returncode == 1 and 'no.such.rule' in res.stderr


def test_test_alert_sends_one_mail_or_says_why_not(tmp_path, smtp_server):
    conf = write_config(str(tmp_path / 'm.conf'), str(tmp_path),
                        '[mail]\nto = admin@example.org\nmethod = smtp\nsmtp_host = 127.0.0.1\n'
                        'smtp_port = %d\n' % smtp_server.port)
    res = nfw('test-alert', '--config', conf)
    assert res.returncode == 0, res.stderr
    assert smtp_server.wait_messages(1)[0]['To'] == 'admin@example.org'
    down = write_config(str(tmp_path / 'down.conf'), str(tmp_path),
                        '[mail]\nto = admin@example.org\nmethod = smtp\nsmtp_host = 127.0.0.1\n'
                        'smtp_port = %d\n' % free_port())   # nothing listens there
    res = nfw('test-alert', '--config', down)
    assert res.returncode == 1 and 'not sent' in res.stderr


def test_status_and_stop_still_work_with_a_broken_config(tmp_path):
    bad = tmp_path / 'bad.conf'
    bad.write_text('[watch\n')
    res = nfw('status', '--config', str(bad))
    assert res.returncode == 3, res.stderr            # LSB "not running", not "config invalid"
    assert 'line 1' in res.stderr and 'built-in [daemon] settings' in res.stderr
    assert nfw('check-config', '--config', str(bad)).returncode == 1


def test_alerts_reach_syslog_through_its_socket(tmp_path, runner):
    """A real datagram socket standing where rsyslog's /dev/log would be."""
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / 'log.sock'))
    sock.settimeout(20)
    try:
        www = tmp_path / 'www'
        www.mkdir()
        r = runner(str(www), '[log]\nsyslog = True\nsyslog_socket = %s\nsyslog_facility = local3\n'
                   % (tmp_path / 'log.sock'))
        r.ready()
        write_file(str(www / 'x.php'), WEBSHELL)
        r.events.wait('alert', str(www / 'x.php'))
        got = []
        while not any('suspicious' in m for m in got):
            got.append(sock.recv(65536).decode('utf-8', 'replace'))
        line = [m for m in got if 'suspicious' in m][0]
        assert line.startswith('<156>newfilewatch[')         # local3 (19) * 8 + warning (4)
        assert str(www / 'x.php') in line
    finally:
        sock.close()


def test_reload_refuses_a_broken_config_with_lsb_6(tmp_path):
    bad = tmp_path / 'bad.conf'
    bad.write_text('[scan]\ndisabled_rules = no.such.rule\n')   # valid INI, unknown rule
    res = nfw('reload', '--config', str(bad))
    assert res.returncode == 6
    assert 'not reloading' in res.stderr and 'no.such.rule' in res.stderr


def test_rules_lists_every_name_the_engine_accepts_for_disabling():
    from newfilewatch import wordpress
    from newfilewatch.engine import Engine
    res = nfw('rules')
    assert res.returncode == 0
    listed = set(line.split()[0] for line in res.stdout.splitlines() if line.strip() and
                 not line.startswith(('A file', 'YARA')))
    assert listed == set(Engine().rule_names()) | set(wordpress.RULES)


def test_scan_follows_a_named_symlink_root_but_no_link_below_it(tmp_path):
    write_tree(str(tmp_path / 'real'))
    os.symlink(str(tmp_path / 'real'), str(tmp_path / 'html'))
    os.makedirs(str(tmp_path / 'other'))
    write_file(str(tmp_path / 'other' / 'evil.php'), WEBSHELL)
    os.symlink(str(tmp_path / 'other'), str(tmp_path / 'real' / 'link'))   # not to be followed
    res = nfw('scan', str(tmp_path / 'html'))
    assert res.returncode == 1
    assert res.stdout.splitlines() == ['%s: %s' % (tmp_path / 'html' / 'sub' / 'shell.php',
                                                   res.stdout.split(': ', 1)[1].strip())]
