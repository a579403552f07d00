"""`newfilewatch quarantine` / `--list` / `restore` as root on files of a throw-away user: the
file goes out of reach with its record and comes back with owner, mode and times; symlinks,
foreign hard links, changed files and paths outside the roots are refused; a move that fails
half-way (a full tmpfs, a record that cannot be written) leaves the original as it was."""
import hashlib
import json
import os
import shlex
import stat
import subprocess
import tempfile

import pytest

from newfilewatch import formatting, model, quarantine
from tests.support.service import (WEBSHELL, needs_root, program, rmtree, temp_user,
                                   write_private_file)

pytestmark = needs_root


def test_ids_and_roots_are_plain_values():
    qid = quarantine.make_id(0, 'deadbeef')
    assert qid == '19700101-000000-deadbeef' and quarantine.valid_id(qid)
    for bad in ('../etc/passwd', '19700101-000000-deadbeef.json', '', 'x'):
        assert not quarantine.valid_id(bad)
    assert quarantine.under('/home/a/public_html/x.php', '/home/a/public_html')
    assert not quarantine.under('/home/a/public_html2/x.php', '/home/a/public_html')
    assert quarantine.under('/x', '/')


def test_the_alert_command_is_one_safe_line_even_for_a_hostile_name():
    plain = model.finding("/www/it's.php", sha256='ab' * 32)
    assert formatting.quarantine_command(plain) == \
        "newfilewatch quarantine --sha256 %s -- '/www/it'\"'\"'s.php'" % ('ab' * 32)
    hostile = model.finding('/www/a\n$(reboot)\x1b[2J\udcff.php', sha256='cd' * 32)
    command = formatting.quarantine_command(hostile)
    assert '\n' not in command and '\x1b' not in command and '--escaped' in command
    assert shlex.split(command)[-1] == '/www/a\\n$(reboot)\\x1b[2J\\xff.php'
    assert formatting.quarantine_command(model.finding('/www/l', kind='symlink')) is None
    assert '--sha256' not in formatting.quarantine_command(model.finding('/www/big', sha256='ef' * 32,
                                                                         partial=True))


@pytest.fixture
def site():
    """A watched root holding a 0750 dir of a throw-away user; config with temp paths."""
    base = tempfile.mkdtemp(prefix='nfw-q-')
    os.chmod(base, 0o755)
    www = os.path.join(base, 'www')
    os.mkdir(www, 0o755)
    with temp_user() as user:
        home = os.path.join(www, 'site')
        os.mkdir(home, 0o750)
        os.chown(home, user.uid, user.gid)
        conf = os.path.join(base, 'nfw.conf')
        qdir = os.path.join(base, 'lib', 'quarantine')
        events = os.path.join(base, 'events.jsonl')
        with open(conf, 'w') as fh:
            fh.write('[watch]\ndirs = %s\n[log]\nevents_file = %s\nsyslog = False\n'
                     '[response]\nquarantine_dir = %s\n' % (www, events, qdir))
        yield dict(base=base, www=www, home=home, user=user, conf=conf, qdir=qdir, events=events)
    rmtree(base)


def _shell(site, name='shell.php', data=WEBSHELL, mode=0o640):
    path = os.path.join(site['home'], name)
    write_private_file(path, data, site['user'], mode)
    os.utime(path, ns=(1500000000123456789, 1600000000987654321))
    return path


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _nfw(site, *args, **kw):
    return program(list(args[:1]) + ['--config', site['conf']] + list(args[1:]), **kw)


def test_quarantine_list_and_restore_round_trip(site):
    path = _shell(site)
    alert = {'time': 'x', 'event': 'alert', 'path': path, 'sha256': _sha(WEBSHELL), 'score': 40}
    with open(site['events'], 'w') as fh:
        fh.write(json.dumps(alert) + '\n')
    done = _nfw(site, 'quarantine', '--sha256', _sha(WEBSHELL), path)
    assert done.returncode == 0, done.stderr
    assert not os.path.lexists(path)                       # nothing left that could be served
    assert stat.S_IMODE(os.stat(site['qdir']).st_mode) == 0o700
    assert os.stat(site['qdir']).st_uid == 0
    (record,) = quarantine.load_records(site['qdir'])
    qid = record['id']
    assert qid in done.stdout and 'newfilewatch restore %s' % qid in done.stdout
    content = os.path.join(site['qdir'], qid)
    st = os.lstat(content)
    assert (st.st_uid, stat.S_IMODE(st.st_mode), '.' in qid) == (0, 0o400, False)
    with open(content, 'rb') as fh:
        assert fh.read() == WEBSHELL
    assert (record['path'], record['owner'], record['uid'], record['mode'], record['sha256'],
            record['mtime_ns'], record['method']) == (
        path, site['user'].name, site['user'].uid, 0o640, _sha(WEBSHELL), 1600000000987654321,
        'rename')
    assert record['alert'] == alert                        # found in the event log
    listed = _nfw(site, 'quarantine', '--list')
    assert qid in listed.stdout and path in listed.stdout
    events = [json.loads(l) for l in open(site['events'])]
    assert events[-1]['event'] == 'quarantined' and events[-1]['id'] == qid

    back = _nfw(site, 'restore', qid)
    assert back.returncode == 0, back.stderr
    st = os.lstat(path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_atime_ns) == (
        site['user'].uid, site['user'].gid, 0o640, 1600000000987654321, 1500000000123456789)
    with open(path, 'rb') as fh:
        assert fh.read() == WEBSHELL
    assert not os.path.exists(content) and quarantine.load_records(site['qdir']) == []
    assert json.loads(open(site['events']).readlines()[-1])['event'] == 'restored'


def test_restore_never_overwrites_a_file_that_appeared_since(site):
    path = _shell(site)
    record = quarantine.quarantine(path, [site['www']], site['qdir'])
    with open(path, 'wb') as fh:
        fh.write(b'the new index page')
    done = _nfw(site, 'restore', record['id'])
    assert done.returncode == 1 and 'appeared since' in done.stderr and 'not overwritten' in done.stderr
    with open(path, 'rb') as fh:
        assert fh.read() == b'the new index page'
    assert os.path.exists(os.path.join(site['qdir'], record['id']))
    assert _nfw(site, 'restore', '../../etc/passwd').returncode == 1


def test_refusals_say_why_and_touch_nothing(site):
    path = _shell(site)
    link = os.path.join(site['home'], 'link.php')
    os.symlink(path, link)
    secret = os.path.join(site['base'], 'root-secret')
    with open(secret, 'wb') as fh:
        fh.write(b'root:$6$hash')
    hard = os.path.join(site['home'], 'hard.txt')
    os.link(secret, hard)                                  # root's file in the user's dir
    outside = os.path.join(site['base'], 'outside.php')
    with open(outside, 'wb') as fh:
        fh.write(WEBSHELL)
    cases = [((link,), 'a symlink'), ((hard,), 'a hard link (2 links) to a file of root'),
             (('--sha256', _sha(b'other'), path), 'changed since the alert'),
             ((outside,), 'outside the watched roots'),
             ((os.path.join(site['home'], 'gone.php'),), 'No such file')]
    for args, why in cases:
        done = _nfw(site, 'quarantine', *args)
        assert done.returncode == 1 and why in done.stderr, (args, done.stderr)
    assert os.path.islink(link) and os.stat(hard).st_nlink == 2 and os.path.exists(outside)
    with open(path, 'rb') as fh:
        assert fh.read() == WEBSHELL
    assert quarantine.load_records(site['qdir']) == []
    # (the ambient CAP_DAC_READ_SEARCH only lets the user start this machine's Python in /root)
    as_user = subprocess.run(['setpriv', '--reuid', str(site['user'].uid), '--regid',
                              str(site['user'].gid), '--clear-groups',
                              '--inh-caps=-all,+dac_read_search',
                              '--ambient-caps=-all,+dac_read_search'] + _cmd(site, path),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
    assert as_user.returncode == 2 and 'needs root' in as_user.stderr


def _cmd(site, path):
    import sys
    from tests.support.service import ROOT
    return ['env', 'PYTHONPATH=%s' % ROOT, sys.executable, '-m', 'newfilewatch', 'quarantine',
            '--config', site['conf'], path]


def test_the_command_from_an_alert_works_on_a_hostile_name(site):
    name = 'a\n$(touch pwned)\x1b[2J\udcff.php'
    path = _shell(site, name)
    finding = model.finding(path, sha256=_sha(WEBSHELL))
    argv = shlex.split(formatting.quarantine_command(finding))      # what a shell would pass
    assert argv[:2] == ['newfilewatch', 'quarantine']
    done = _nfw(site, *argv[1:])
    assert done.returncode == 0, done.stderr
    assert not os.path.lexists(path) and not os.path.exists('pwned')
    (record,) = quarantine.load_records(site['qdir'])
    assert record['path'] == path


def test_auto_quarantine_helper_reads_the_alert_on_stdin(site):
    path = _shell(site)
    alert = formatting.event('alert', 0, model.finding(path, sha256=_sha(WEBSHELL), owner='x'))
    done = _nfw(site, 'quarantine', '--from-alert', input=alert)
    assert done.returncode == 0, done.stderr
    assert not os.path.lexists(path) and len(quarantine.load_records(site['qdir'])) == 1
    stale = formatting.event('alert', 0, model.finding(_shell(site, 'b.php'), sha256=_sha(b'x')))
    refused = _nfw(site, 'quarantine', '--from-alert', input=stale)
    assert refused.returncode == 1 and 'changed since the alert' in refused.stderr


@pytest.fixture
def tiny_fs(site):
    mount = os.path.join(site['base'], 'small')
    os.mkdir(mount)
    subprocess.check_call(['mount', '-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'nfwtest', mount])
    try:
        yield mount
    finally:
        subprocess.call(['umount', mount])


def test_another_filesystem_is_copied_verified_then_unlinked(site, tiny_fs):
    path = _shell(site)
    qdir = os.path.join(tiny_fs, 'q')
    record = quarantine.quarantine(path, [site['www']], qdir, _sha(WEBSHELL))
    assert record['method'] == 'copy' and not os.path.lexists(path)
    st = os.lstat(os.path.join(qdir, record['id']))
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o400)
    back = quarantine.restore(record['id'], qdir)
    st = os.lstat(path)
    assert (st.st_uid, stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (
        site['user'].uid, 0o640, 1600000000987654321) and back['id'] == record['id']


def test_a_full_quarantine_filesystem_loses_nothing(site, tiny_fs):
    big = os.urandom(200 * 1024)                       # more than the 64 KiB tmpfs holds
    qdir = os.path.join(tiny_fs, 'q')
    path = _shell(site, 'big.php', big)
    with pytest.raises(quarantine.QuarantineError) as err:
        quarantine.quarantine(path, [site['www']], qdir)
    assert 'No space left' in str(err.value) and 'left as it was' in str(err.value)
    with open(path, 'rb') as fh:
        assert fh.read() == big
    st = os.lstat(path)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (site['user'].uid, 0o640)
    assert os.listdir(qdir) == []                      # no partial copy, no record


def test_a_record_that_cannot_be_written_puts_the_file_back(site):
    path = _shell(site, mode=0o604)
    qid = quarantine.make_id(1700000000, 'deadbeef')
    os.makedirs(os.path.join(site['qdir'], qid + '.json'))   # the record's name is taken
    with pytest.raises((quarantine.QuarantineError, OSError)):
        quarantine.quarantine(path, [site['www']], site['qdir'], now=1700000000, token='deadbeef')
    st = os.lstat(path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (
        site['user'].uid, site['user'].gid, 0o604, 1600000000987654321)
    with open(path, 'rb') as fh:
        assert fh.read() == WEBSHELL
    assert not os.path.exists(os.path.join(site['qdir'], qid))


def test_a_planted_link_instead_of_the_quarantine_dir_or_the_event_log_is_refused(site):
    path = _shell(site)
    target = os.path.join(site['base'], 'elsewhere')
    os.mkdir(target, 0o755)
    os.makedirs(os.path.dirname(site['qdir']))
    os.symlink(target, site['qdir'])
    with pytest.raises(quarantine.QuarantineError) as err:
        quarantine.quarantine(path, [site['www']], site['qdir'])
    assert 'not a plain directory' in str(err.value)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o755 and os.listdir(target) == []
    assert os.path.exists(path)
    os.unlink(site['qdir'])
    victim = os.path.join(site['base'], 'victim')
    with open(victim, 'w') as fh:
        fh.write('root:x:0:0\n')
    os.link(victim, site['events'])                    # a hard link where the log should be
    quarantine.quarantine(path, [site['www']], site['qdir'])
    with open(victim) as fh:
        assert fh.read() == 'root:x:0:0\n'


def test_auto_quarantine_end_to_end_through_the_helper_command(tmp_path):
    """A foreground run as root (no drop) with the helper run directly instead of through sudo:
    a critical alert goes to `quarantine --from-alert`, which moves the file and logs it."""
    from tests.support.nfw import Runner, write_file
    from tests.support.service import program_wrapper
    www = tmp_path / 'www'
    www.mkdir()
    qdir = tmp_path / 'q'
    events = tmp_path / 'events.jsonl'
    conf = tmp_path / 'helper.conf'
    conf.write_text('[watch]\ndirs = %s\n[log]\nevents_file = %s\nsyslog = False\n'
                    '[response]\nquarantine_dir = %s\n' % (www, events, qdir))
    helper = '%s quarantine --from-alert --config %s' % (program_wrapper(str(tmp_path)), conf)
    runner = Runner(tmp_path, str(www), extra_config='[log]\nevents_file = %s\n[response]\n'
                    'auto_quarantine = yes\nauto_quarantine_command = %s\nquarantine_dir = %s\n'
                    % (events, helper, qdir))
    try:
        runner.ready()
        write_file(str(www / 'shell.php'), WEBSHELL)
        alert = runner.events.wait('alert', str(www / 'shell.php'))
        done = runner.events.wait('hook', str(www / 'shell.php'), timeout=30)
        assert done['hook'] == 'auto_quarantine' and done['status'] == 'ok', done
        moved = runner.events.wait('quarantined', str(www / 'shell.php'))
    finally:
        runner.stop()
    assert not os.path.lexists(str(www / 'shell.php'))
    (record,) = quarantine.load_records(str(qdir))
    assert record['id'] == moved['id'] and record['alert'] == alert
    summary = json.loads(program(['report', '--config', str(conf), '--json']).stdout)
    assert [q['id'] for q in summary['quarantined']] == [record['id']]
