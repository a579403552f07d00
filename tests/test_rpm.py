"""The RPM, built for real with rpmbuild (`make rpm`), inspected with rpm -qp, and installed into a
scratch root.  Debian's rpm stands in for EL's: --nodeps, and the spec's macro fallbacks."""
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.support.service import ROOT, IS_ROOT

pytestmark = pytest.mark.skipif(not shutil.which('rpmbuild') or os.environ.get(
    'NEWFILEWATCH_PURE_TESTS'), reason='needs rpmbuild (apt-get install rpm)')

CONFIG_FILES = {'/etc/newfilewatch.conf', '/etc/logrotate.d/newfilewatch',
                '/etc/sysconfig/newfilewatch'}
STATE_DIRS = {'/var/log/newfilewatch', '/var/run/newfilewatch', '/var/lib/newfilewatch',
              '/var/lib/newfilewatch/spool'}


def _out(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=True, timeout=300).stdout


def _build(options):
    top = tempfile.mkdtemp(prefix='nfw-rpm-')
    done = subprocess.run(['make', '-C', ROOT, 'rpm', 'TOPDIR=%s' % top, 'DISTDIR=%s' % top,
                           'PYTHON=%s' % sys.executable, 'RPMBUILD_OPTS=--without check ' + options],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    rpms = [os.path.join(top, 'RPMS', 'noarch', n)
            for n in os.listdir(os.path.join(top, 'RPMS', 'noarch'))]
    assert len(rpms) == 1
    return top, rpms[0]


@pytest.fixture(scope='module')
def sysv():
    top, rpm = _build('--without systemd')
    yield rpm
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope='module')
def systemd():
    top, rpm = _build('--with systemd')
    yield rpm
    shutil.rmtree(top, ignore_errors=True)


def test_noarch_and_requires(sysv):
    assert sysv.endswith('.noarch.rpm')
    requires = _out(['rpm', '-qp', '--requires', sysv]).split('\n')
    for name in ('python3-inotify', 'python3-configobj', 'python3-daemon', 'python3-lockfile',
                 'shadow-utils', 'chkconfig', 'logrotate'):
        assert name in requires, name
    assert '/usr/bin/python3' in requires
    assert not [r for r in requires if r.startswith('/root')]


def test_scriptlets(sysv):
    scripts = _out(['rpm', '-qp', '--scripts', sysv])
    parts = dict(re.findall(r'^(\w+) scriptlet \(using /bin/sh\):\n(.*?)(?=^\w+ scriptlet|\Z)',
                            scripts, re.M | re.S))
    pre, post, preun, postun = (parts['preinstall'], parts['postinstall'],
                                parts['preuninstall'], parts['postuninstall'])
    assert 'getent group fsniper' in pre and 'groupadd -r fsniper' in pre
    assert re.search(r'useradd -r .*-d /var/lib/newfilewatch -s /sbin/nologin', pre)
    assert '/usr/bin/newfilewatch tune-sysctl || :' in post
    assert '/sbin/chkconfig --add newfilewatch || :' in post
    assert '[ $1 -eq 0 ]' in preun and 'newfilewatch stop' in preun
    assert 'chkconfig --del newfilewatch' in preun
    assert '[ $1 -ge 1 ]' in postun and 'newfilewatch condrestart' in postun
    for body in (pre, post, preun, postun):
        assert body.rstrip().endswith('exit 0')          # never fails an install or erase


def test_config_files_and_ownership(sysv):
    assert set(_out(['rpm', '-qp', '--configfiles', sysv]).split()) == CONFIG_FILES
    rows = _out(['rpm', '-qp', '--qf', '[%{FILENAMES} %{FILEUSERNAME} %{FILEGROUPNAME} '
                 '%{FILEMODES:perms} %{FILEFLAGS:fflags}\n]', sysv]).splitlines()
    table = {r.split()[0]: r.split()[1:] for r in rows}
    for d in STATE_DIRS:
        assert table[d][:2] == ['fsniper', 'fsniper'] and table[d][2].startswith('d'), d
    assert table['/etc/newfilewatch.conf'][:3] == ['root', 'fsniper', '-rw-r-----']
    assert 'n' in table['/etc/newfilewatch.conf'][3]        # %config(noreplace)
    assert table['/etc/rc.d/init.d/newfilewatch'][2] == '-rwxr-xr-x'


def test_installs_into_a_scratch_root(sysv, tmp_path):
    root = str(tmp_path / 'root')
    db = str(tmp_path / 'db')
    subprocess.run(['rpm', '-i', '--root', root, '--dbpath', db, '--nodeps', '--noscripts',
                    sysv], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    listed = set(_out(['rpm', '-ql', '--root', root, '--dbpath', db, 'newfilewatch']).split())
    assert CONFIG_FILES | STATE_DIRS | {'/usr/bin/newfilewatch',
                                       '/etc/rc.d/init.d/newfilewatch'} <= listed
    sitelib = [p for p in listed if p.endswith('/site-packages/newfilewatch')]
    assert len(sitelib) == 1
    for name in ('daemon.py', 'privileges.py', 'sysctl.py', 'cli.py', 'configspec.ini'):
        assert os.path.isfile(root + sitelib[0] + '/' + name), name
    for path in listed:
        assert os.path.lexists(root + path), path
    with open(root + '/usr/bin/newfilewatch') as fh:
        assert fh.readline() == '#!/usr/bin/python3\n'
    assert open(root + '/etc/rc.d/init.d/newfilewatch').read() == \
        open(os.path.join(ROOT, 'init.d', 'newfilewatch')).read()
    # the packaged code validates the packaged config
    env = dict(os.environ, PYTHONPATH=root + os.path.dirname(sitelib[0]))
    done = subprocess.run([sys.executable, '-m', 'newfilewatch', 'check-config', '--config',
                           root + '/etc/newfilewatch.conf'], env=env, cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert done.returncode == 0, done.stderr
    subprocess.run(['rpm', '-e', '--root', root, '--dbpath', db, '--nodeps', '--noscripts',
                    'newfilewatch'], check=True)
    assert not os.path.exists(root + '/usr/bin/newfilewatch')


@pytest.mark.skipif(not IS_ROOT, reason='creates a system user')
def test_pre_scriptlet_creates_fsniper_once(sysv):
    scripts = _out(['rpm', '-qp', '--scripts', sysv])
    pre = scripts.split('preinstall scriptlet (using /bin/sh):\n', 1)[1].split(
        'postinstall scriptlet', 1)[0]
    existed = _exists('fsniper')
    try:
        for _ in range(2):                                       # idempotent
            subprocess.run(['sh', '-c', pre], check=True)
        entry = pwd.getpwnam('fsniper')
        assert entry.pw_shell == '/sbin/nologin' and entry.pw_dir == '/var/lib/newfilewatch'
        assert entry.pw_uid < 1000                                # -r: a system account
    finally:
        if not existed:
            subprocess.call(['userdel', 'fsniper'])
            subprocess.call(['groupdel', 'fsniper'], stderr=subprocess.DEVNULL)


def _exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_systemd_flavour(systemd):
    listed = set(_out(['rpm', '-qp', '-l', systemd]).split())
    assert '/usr/lib/systemd/system/newfilewatch.service' in listed
    assert '/etc/rc.d/init.d/newfilewatch' not in listed
    scripts = _out(['rpm', '-qp', '--scripts', systemd])
    assert 'systemctl --no-reload preset newfilewatch.service' in scripts
    assert 'systemctl --no-reload disable --now newfilewatch.service' in scripts
    assert 'systemctl try-restart newfilewatch.service' in scripts
    assert 'chkconfig' not in scripts
    requires = _out(['rpm', '-qp', '--requires', systemd]).split('\n')
    assert 'systemd' in requires and 'chkconfig' not in requires


def test_unit_file():
    text = open(os.path.join(ROOT, 'etc', 'newfilewatch.service')).read()
    assert 'Type=forking' in text and 'PIDFile=/run/newfilewatch/newfilewatch.pid' in text
    assert 'EnvironmentFile=-/etc/sysconfig/newfilewatch' in text
    assert 'ExecStart=/usr/bin/newfilewatch start $OPTIONS' in text
    assert not re.search(r'^User=', text, re.M)          # the daemon drops itself; see comment


def test_logrotate_config():
    text = open(os.path.join(ROOT, 'etc', 'logrotate.d', 'newfilewatch')).read()
    for directive in ('/var/log/newfilewatch/*.log', 'weekly', 'rotate 8', 'compress',
                      'delaycompress', 'missingok', 'notifempty', 'create 0640 fsniper fsniper',
                      'sharedscripts', 'postrotate', 'kill -USR1', 'endscript'):
        assert directive in text, directive
    assert 'copytruncate' not in re.sub(r'#.*', '', text)
