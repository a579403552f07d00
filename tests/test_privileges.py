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
            [str(existing), (str(tmp_path / 'run' / 'nfw'), 0o755), str(tmp_path / 'log')], user)
        assert created == [str(tmp_path / 'run'), str(tmp_path / 'run' / 'nfw'),
                           str(tmp_path / 'log')]
        assert os.stat(str(tmp_path / 'run' / 'nfw')).st_uid == user.uid
        assert mode_of(str(tmp_path / 'run' / 'nfw')) == 0o755
        assert mode_of(str(tmp_path / 'log')) == 0o750
        assert os.stat(str(existing)).st_uid == 0           # not ours to take


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
