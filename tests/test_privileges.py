"""The drop from root: real users, real setuid, real capabilities, checked in /proc."""
import json
import os
import subprocess
import sys

import pytest

from newfilewatch import privileges
from tests.support.service import (ROOT, needs_root, private_dir, temp_user, write_private_file,
                                   mode_of)

STATUS = """Name:\tpython3
Uid:\t999\t999\t999\t999
Gid:\t995\t995\t995\t995
Groups:\t995 
CapInh:\t0000000000000000
CapPrm:\t0000000000000004
CapEff:\t0000000000000004
CapBnd:\t000001fffeffffff
"""


def test_cap_mask_and_parse_status():
    assert privileges.cap_mask(privileges.CAP_DAC_READ_SEARCH) == 0x4
    assert privileges.cap_mask(0, 2, 8) == 0x105
    st = privileges.parse_status(STATUS)
    assert st['Uid'] == (999,) * 4 and st['Groups'] == (995,)
    assert st['CapEff'] == 4 and st['CapBnd'] == 0x1fffeffffff


def test_lookup_unknown_user():
    with pytest.raises(privileges.PrivilegeError) as info:
        privileges.lookup('no-such-user-nfw')
    assert 'does not exist' in str(info.value)
    assert privileges.lookup('0').uid == 0


@needs_root
def test_prepare_dirs_creates_and_chowns_only_missing(tmp_path):
    existing = tmp_path / 'existing'
    existing.mkdir()
    with temp_user() as user:
        created = privileges.prepare_dirs(
            [(str(tmp_path / 'run' / 'nfw'), 0o755), str(tmp_path / 'log')], user)
        assert created == [str(tmp_path / 'run'), str(tmp_path / 'run' / 'nfw'),
                           str(tmp_path / 'log')]
        assert os.stat(str(tmp_path / 'run' / 'nfw')).st_uid == user.uid
        assert mode_of(str(tmp_path / 'run' / 'nfw')) == 0o755
        assert mode_of(str(tmp_path / 'log')) == 0o750
        assert privileges.prepare_dirs([str(tmp_path / 'log')], user) == []    # idempotent
        with pytest.raises(privileges.PrivilegeError) as info:     # root's, not the user's
            privileges.prepare_dirs([str(existing)], user)
        assert 'not writable by %s' % user.name in str(info.value)
        assert os.stat(str(existing)).st_uid == 0           # not ours to take


@needs_root
def test_a_link_planted_for_a_service_dir_is_refused_and_its_target_untouched(tmp_path):
    """Issue 15: swapping `spool` for a symlink between mkdir, chmod and chown made root chown
    any file to the service user.  Now every step is on an fd opened with O_NOFOLLOW."""
    victim_dir = tmp_path / 'etc'
    victim_dir.mkdir()
    os.chmod(str(victim_dir), 0o755)
    victim = victim_dir / 'shadow'
    victim.write_text('root:x\n')
    with temp_user() as user:
        lib = tmp_path / 'lib'
        privileges.prepare_dirs([str(lib)], user)            # the service user's own dir
        for planted, target in (('spool', victim_dir), ('spool2', victim)):
            link = str(lib / planted)
            os.symlink(str(target), link)
            os.chown(link, user.uid, user.gid, follow_symlinks=False)   # as the user made it
            with pytest.raises(privileges.PrivilegeError) as info:
                privileges.prepare_dirs([link, os.path.join(link, 'deeper')], user)
            assert 'symlink' in str(info.value) and planted in str(info.value)
        assert os.stat(str(victim_dir)).st_uid == 0 and mode_of(str(victim_dir)) == 0o755
        assert os.stat(str(victim)).st_uid == 0
        assert not (victim_dir / 'deeper').exists()
        foreign = tmp_path / 'foreign'
        foreign.mkdir()
        os.chown(str(foreign), 65534, 65534)                # neither root nor the service user
        with pytest.raises(privileges.PrivilegeError) as info:
            privileges.prepare_dirs([str(foreign)], user)
        assert 'owned by uid 65534' in str(info.value)


@needs_root
def test_files_root_left_behind_are_given_to_the_service_user_links_are_refused(tmp_path):
    """Issue 11: after a root run the logs were root's and the daemon silently wrote nothing."""
    with temp_user() as user:
        logs = tmp_path / 'log'
        privileges.prepare_dirs([str(logs)], user)
        left = logs / 'newfiles.log'
        left.write_text('old\n')                            # root's, as a root run left it
        mine = logs / 'mine.log'
        mine.write_text('')
        os.chown(str(mine), user.uid, user.gid)
        notes = privileges.adopt_files([str(left), str(mine), str(logs / 'missing.log')], user)
        assert os.stat(str(left)).st_uid == user.uid and len(notes) == 1
        victim = tmp_path / 'victim'
        victim.write_text('keep')
        link = logs / 'newfilewatch.log'
        os.symlink(str(victim), str(link))
        os.chown(str(link), user.uid, user.gid, follow_symlinks=False)
        with pytest.raises(privileges.PrivilegeError) as info:
            privileges.adopt_files([str(link)], user)
        assert 'symlink' in str(info.value)
        os.unlink(str(link))
        os.link(str(victim), str(link))                      # a hard link to a root file
        with pytest.raises(privileges.PrivilegeError):
            privileges.adopt_files([str(link)], user)
        fifo = logs / 'events.jsonl'
        os.mkfifo(str(fifo))
        with pytest.raises(privileges.PrivilegeError) as info:
            privileges.adopt_files([str(fifo)], user)         # and it did not block
        assert 'not a regular file' in str(info.value)
        assert os.stat(str(victim)).st_uid == 0


def test_own_dir():
    assert privileges.own_dir('/var/log/newfilewatch')
    assert privileges.own_dir('/var/lib/newfilewatch/spool')
    assert not privileges.own_dir('/var/log') and not privileges.own_dir('/srv/newfilewatch.d')


def test_writable_by():
    class St(object):
        def __init__(self, uid, gid, mode):
            self.st_uid, self.st_gid, self.st_mode = uid, gid, mode
    assert privileges.writable_by(St(5, 5, 0o750), 5, {5})
    assert not privileges.writable_by(St(0, 0, 0o755), 5, {5})
    assert privileges.writable_by(St(0, 7, 0o770), 5, {5, 7})
    assert privileges.writable_by(St(0, 0, 0o1777), 5, {5})
    assert privileges.writable_by(St(9, 9, 0o500), 0, set())


DROP_AND_PROBE = r'''
import json, os, sys
from newfilewatch import privileges
target = privileges.lookup(sys.argv[1])
notes = privileges.drop_to(target)
def attempt(fn):
    try:
        fn()
        return 'ok'
    except OSError as exc:
        return 'errno %d' % exc.errno
def write_into(d):
    with open(os.path.join(d, 'planted.php'), 'w') as fh:
        fh.write('x')
with open('/proc/self/status') as fh:
    status = privileges.parse_status(fh.read())
print(json.dumps({
    'notes': notes, 'status': status,
    'read_other': attempt(lambda: open(sys.argv[2], 'rb').read()),
    'list_other': attempt(lambda: os.listdir(os.path.dirname(sys.argv[2]))),
    'write_other': attempt(lambda: write_into(os.path.dirname(sys.argv[2]))),
    'write_etc': attempt(lambda: write_into(sys.argv[3])),
}))
'''


@needs_root
def test_drop_keeps_only_dac_read_search(tmp_path):
    with temp_user('nfwd') as daemon_user, temp_user('nfwo') as web_owner:
        site = private_dir(str(tmp_path / 'site'), web_owner, 0o770)
        secret = write_private_file(os.path.join(site, 'config.php'), b'<?php $pw = 1;',
                                    web_owner, 0o640)
        root_only = str(tmp_path / 'rootonly')
        os.mkdir(root_only, 0o755)
        done = subprocess.run([sys.executable, '-c', DROP_AND_PROBE, daemon_user.name, secret,
                               root_only], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=dict(os.environ, PYTHONPATH=ROOT),
                              timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    st = report['status']
    assert report['notes'] == []
    assert st['Uid'] == [daemon_user.uid] * 4
    assert st['Gid'] == [daemon_user.gid] * 4
    assert 0 not in st['Groups'] and set(st['Groups']) <= {daemon_user.gid}
    assert st['CapEff'] == 0x4 and st['CapPrm'] == 0x4 and st['CapInh'] == 0
    assert st['CapBnd'] == 0x4
    assert report['read_other'] == 'ok' and report['list_other'] == 'ok'
    assert report['write_other'] == 'errno 13'       # EACCES: reading only, never writing
    assert report['write_etc'] == 'errno 13'
