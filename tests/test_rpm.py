"""The RPM, built for real with rpmbuild (`make rpm`), inspected with rpm -qp and rpmlint, and
installed into a scratch root.  Debian's rpm stands in for EL's: --nodeps, and the spec's macro
fallbacks.  The scriptlets themselves run in tests/test_scriptlets.py (a Debian root)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.support.rpmbuild import build
from tests.support.service import ROOT, needs_root, temp_user

pytestmark = pytest.mark.skipif(not shutil.which('rpmbuild') or os.environ.get(
    'NEWFILEWATCH_PURE_TESTS'), reason='needs rpmbuild (apt-get install rpm)')

CONFIG_FILES = {'/etc/newfilewatch.conf', '/etc/logrotate.d/newfilewatch',
                '/etc/sysconfig/newfilewatch'}
STATE_DIRS = {'/var/log/newfilewatch', '/var/lib/newfilewatch', '/var/lib/newfilewatch/spool'}
MAN_PAGES = {'/usr/share/man/man8/newfilewatch.8.gz', '/usr/share/man/man5/newfilewatch.conf.5.gz'}
UNIT = os.path.join(ROOT, 'etc', 'newfilewatch.service')

# rpmlint findings that stay, each with its reason (README.md "rpmlint" lists the same).
RPMLINT_ALLOWED = {
    'non-standard-uid': 'the service user fsniper owns its log and state dirs',
    'non-standard-gid': 'fsniper\'s group owns those dirs and may read the config',
    'non-standard-dir-perm': 'log and state dirs are 0750: alerts name customers\' files',
    'non-readable': '/etc/newfilewatch.conf is 0640: it may hold smtp_password',
    'no-signature': 'test builds are unsigned; sign releases with rpmsign',
    'no-packager-tag': 'openSUSE policy; Fedora/EL set Packager in the build system',
    'no-group-tag': 'openSUSE policy; Fedora dropped Group:',
    'no-buildroot-tag': 'openSUSE policy; rpm 4.6+ ignores BuildRoot:',
    'invalid-license': 'Debian\'s rpmlint license list predates SPDX names (GPL-2.0-or-later)',
    'no-manual-page-for-binary': 'rpmlint 2.4 bug: compares the binary with the man section '
                                 'number; newfilewatch.8.gz is in the package',
}


def _out(argv, **kwargs):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=True, timeout=300, **kwargs).stdout


@pytest.fixture(scope='module')
def sysv():
    top, rpm = build('--without systemd')
    yield rpm
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope='module')
def systemd():
    top, rpm = build('--with systemd')
    yield rpm
    shutil.rmtree(top, ignore_errors=True)


def test_fresh_clone_builds_both_flavours_with_check(tmp_path):
    """What a new admin does: clone, `make rpm` (with %check, the default), both flavours,
    with whatever `python3` the machine has (only what .ci/run installs)."""
    clone = str(tmp_path / 'clone')
    subprocess.run(['git', 'clone', '-q', ROOT, clone], check=True, timeout=120)
    env_python = None                                   # the Makefile's default: python3
    for options in ('', '--with systemd'):
        top, rpm = build(options, checkout=clone, check=True, python=env_python)
        try:
            assert os.path.basename(rpm).startswith('newfilewatch-') and rpm.endswith('.noarch.rpm')
            srpms = os.listdir(os.path.join(top, 'SRPMS'))
            assert len(srpms) == 1 and srpms[0].endswith('.src.rpm')
            listed = _out(['rpm', '-qpl', rpm]).split()
            assert ('/usr/lib/systemd/system/newfilewatch.service' in listed) == bool(options)
        finally:
            shutil.rmtree(top, ignore_errors=True)


def test_noarch_and_requires(sysv):
    assert sysv.endswith('.noarch.rpm')
    requires = _out(['rpm', '-qp', '--requires', sysv]).split('\n')
    version = '%d.%d' % sys.version_info[:2]             # the python that ran the build
    for dist in ('pyinotify', 'configobj', 'python-daemon', 'lockfile'):
        assert 'python%sdist(%s)' % (version, dist) in requires, dist
    for name in ('shadow-utils', 'chkconfig', 'logrotate', '/usr/bin/python3'):
        assert name in requires, name
    assert not [r for r in requires if r.startswith('python3-') or r.startswith('/root')]
    # only ours: no generated ones from setup.py (docutils, setuptools, version ranges)
    assert sorted(r for r in requires if 'dist(' in r) == sorted(
        'python%sdist(%s)' % (version, d) for d in ('pyinotify', 'configobj', 'python-daemon',
                                                     'lockfile'))


def test_el7_build_without_the_python_daemon_requires():
    top, rpm = build('--without pydaemon_rpm')
    try:
        requires = _out(['rpm', '-qp', '--requires', rpm])
        assert 'dist(python-daemon)' not in requires and 'dist(configobj)' in requires
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_spec_build_requires_are_honest():
    """%check needs pytest and nothing else besides the build's own tools."""
    spec = open(os.path.join(ROOT, 'rpm', 'newfilewatch.spec')).read()
    build_requires = re.findall(r'^BuildRequires:\s*(\S+)', spec, re.M)
    assert 'python%{python3_version}dist(pytest)' in build_requires
    assert not [b for b in build_requires if re.search(r'hypothesis|aiosmtpd|inotify|configobj',
                                                       b)]
    assert 'NEWFILEWATCH_PURE_TESTS=1' in spec.split('%check', 1)[1].split('%pre', 1)[0]


def test_scriptlets(sysv):
    scripts = _out(['rpm', '-qp', '--scripts', sysv])
    parts = dict(re.findall(r'^(\w+) scriptlet \(using /bin/sh\):\n(.*?)(?=^\w+ scriptlet|\Z)',
                            scripts, re.M | re.S))
    pre, post, preun, postun = (parts['preinstall'], parts['postinstall'],
                                parts['preuninstall'], parts['postuninstall'])
    assert 'getent group fsniper' in pre and 'groupadd -r fsniper' in pre
    assert '/usr/bin/newfilewatch tune-sysctl || :' in post
    assert '/sbin/chkconfig --add newfilewatch || :' in post
    assert '[ $1 -eq 0 ]' in preun and 'newfilewatch stop' in preun
    assert 'chkconfig --del newfilewatch' in preun
    assert '[ $1 -ge 1 ]' in postun and 'newfilewatch condrestart' in postun
    for body in (pre, post, preun, postun):
        assert body.rstrip().endswith('exit 0')          # never fails an install or erase
        assert 'cat ' not in body and 'kill ' not in body   # the program handles the pidfile


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
    assert not [p for p in table if p.startswith('/var/run') or p.startswith('/run')]
    for page in MAN_PAGES:
        assert page in table, page
    assert [p for p in table if p.endswith('/LICENSE')]
    assert 'l' in table[[p for p in table if p.endswith('/LICENSE')][0]][3]   # %license


def test_url_and_description(sysv):
    info = _out(['rpm', '-qpi', sysv])
    assert re.search(r'^URL\s*: https://', info, re.M)
    assert re.search(r'^License\s*: GPL-2.0-or-later', info, re.M)
    description = info.split('Description :', 1)[1]
    assert max(len(line) for line in description.splitlines()) <= 79


def test_installs_into_a_scratch_root(sysv, tmp_path):
    root = str(tmp_path / 'root')
    db = str(tmp_path / 'db')
    subprocess.run(['rpm', '-i', '--root', root, '--dbpath', db, '--nodeps', '--noscripts',
                    sysv], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    listed = set(_out(['rpm', '-ql', '--root', root, '--dbpath', db, 'newfilewatch']).split())
    assert CONFIG_FILES | STATE_DIRS | MAN_PAGES | {'/usr/bin/newfilewatch',
                                                   '/etc/rc.d/init.d/newfilewatch'} <= listed
    sitelib = [p for p in listed if p.endswith('/site-packages/newfilewatch')]
    assert len(sitelib) == 1
    for name in ('daemon.py', 'privileges.py', 'sysctl.py', 'cli.py', 'configspec.ini'):
        assert os.path.isfile(root + sitelib[0] + '/' + name), name
    # every module of the tree, subpackages included, is in the package
    tree = os.path.join(ROOT, 'newfilewatch')
    for directory, _, files in os.walk(tree):
        for name in files:
            if name.endswith('.py') or name.endswith('.ini'):
                relative = os.path.relpath(os.path.join(directory, name), tree)
                assert os.path.isfile(os.path.join(root + sitelib[0], relative)), relative
    for path in listed:
        assert os.path.lexists(root + path), path
    with open(root + '/usr/bin/newfilewatch') as fh:
        assert fh.readline() == '#!/usr/bin/python3\n'
        assert 'pkg_resources' not in fh.read()
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


def test_systemd_flavour(systemd):
    listed = set(_out(['rpm', '-qp', '-l', systemd]).split())
    assert '/usr/lib/systemd/system/newfilewatch.service' in listed
    assert '/usr/lib/tmpfiles.d/newfilewatch.conf' in listed
    assert '/etc/rc.d/init.d/newfilewatch' not in listed
    assert not [p for p in listed if p.startswith('/var/run') or p.startswith('/run')]
    scripts = _out(['rpm', '-qp', '--scripts', systemd])
    assert 'systemd-tmpfiles --create /usr/lib/tmpfiles.d/newfilewatch.conf' in scripts
    assert 'systemctl --no-reload preset newfilewatch.service' in scripts
    assert 'systemctl --no-reload disable --now newfilewatch.service' in scripts
    assert 'systemctl try-restart newfilewatch.service' in scripts
    assert 'chkconfig' not in scripts
    requires = _out(['rpm', '-qp', '--requires', systemd]).split('\n')
    assert 'systemd' in requires and 'chkconfig' not in requires


def test_tmpfiles_entry():
    text = open(os.path.join(ROOT, 'etc', 'tmpfiles.d', 'newfilewatch.conf')).read()
    lines = [l.split() for l in text.splitlines() if l.strip() and not l.startswith('#')]
    assert lines == [['d', '/run/newfilewatch', '0755', 'fsniper', 'fsniper', '-']]


@pytest.mark.skipif(not shutil.which('rpmlint'), reason='needs rpmlint (tests/setup.sh)')
def test_rpmlint_only_documented_findings(sysv, systemd):
    srpm_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(sysv))), 'SRPMS')
    srpms = [os.path.join(srpm_dir, n) for n in os.listdir(srpm_dir)]
    done = subprocess.run(['rpmlint', '-c', os.path.join(ROOT, 'rpm', 'rpmlint.toml'), sysv,
                           systemd] + srpms, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300, cwd=tempfile.gettempdir())
    findings = re.findall(r'^\S+: ([EW]): (\S+)', done.stdout, re.M)
    assert findings, done.stdout                       # rpmlint ran and said something
    unexpected = sorted(set(name for _, name in findings) - set(RPMLINT_ALLOWED))
    assert not unexpected, done.stdout
    readme = open(os.path.join(ROOT, 'README.md')).read()
    for name in RPMLINT_ALLOWED:
        assert '`%s`' % name in readme, 'README.md does not list rpmlint finding %s' % name


def unit_settings(text):
    """{key: [values]} of the unit file's [Service] section (repeatable keys keep order)."""
    settings, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('['):
            section = line
        elif section == '[Service]' and '=' in line and not line.startswith('#'):
            key, value = line.split('=', 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_file():
    text = open(UNIT).read()
    s = unit_settings(text)
    assert s['Type'] == ['forking'] and s['PIDFile'] == ['/run/newfilewatch/newfilewatch.pid']
    assert s['EnvironmentFile'] == ['-/etc/sysconfig/newfilewatch']
    assert s['ExecStart'] == ['/usr/bin/newfilewatch start $OPTIONS']
    # reload: the config is checked before the signal; a failing check stops the sequence
    assert s['ExecReload'] == ['/usr/bin/newfilewatch check-config $OPTIONS',
                               '/bin/kill -HUP $MAINPID']
    assert 'User' not in s                              # the daemon drops itself; see comment
    assert 'NoNewPrivileges' not in s                   # would break Postfix's setgid postdrop
    assert set(' '.join(s['CapabilityBoundingSet']).split()) == {
        'CAP_SETUID', 'CAP_SETGID', 'CAP_DAC_READ_SEARCH', 'CAP_CHOWN', 'CAP_FOWNER',
        'CAP_SYS_ADMIN', 'CAP_SYS_NICE'}
    assert s['ProtectSystem'] == ['strict']
    writable = ' '.join(s['ReadWritePaths']).split()
    for path in ('/var/log/newfilewatch', '/var/lib/newfilewatch', '/run/newfilewatch',
                 '/var/spool/postfix'):
        assert '-' + path in writable, path
    for key in ('ProtectKernelTunables', 'ProtectKernelModules', 'ProtectControlGroups',
                'RestrictNamespaces', 'PrivateTmp', 'RestrictSUIDSGID'):
        assert s[key] == ['yes'], key
    assert s['UMask'] == ['0027']
    man = re.search(r'^Documentation=(.*)$', text, re.M).group(1).split()
    for page in man:
        name, section = re.match(r'man:([\w.]+)\((\d)\)$', page).groups()
        assert os.path.isfile(os.path.join(ROOT, 'man', '%s.%s' % (name, section))), page


@pytest.mark.skipif(not shutil.which('systemd-analyze'), reason='needs systemd-analyze')
def test_systemd_analyze_verify(systemd, tmp_path):
    """The installed unit, with systemd's own units beside it, as on an EL host."""
    root = str(tmp_path / 'root')
    subprocess.run(['rpm', '-i', '--root', root, '--dbpath', str(tmp_path / 'db'), '--nodeps',
                    '--noscripts', systemd], check=True, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
    units = root + '/usr/lib/systemd/system'
    host_units = '/lib/systemd/system'
    for name in os.listdir(host_units):
        if not os.path.lexists(os.path.join(units, name)):
            src = os.path.join(host_units, name)
            if os.path.isfile(src) and not os.path.islink(src):
                shutil.copy(src, units)
    os.makedirs(root + '/bin')
    shutil.copy(shutil.which('kill'), root + '/bin/kill')
    env = dict(os.environ, MANPATH=root + '/usr/share/man')
    done = subprocess.run(['systemd-analyze', 'verify', '--root=' + root, 'newfilewatch.service'],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout


@needs_root
@pytest.mark.skipif(not shutil.which('setpriv'), reason='needs setpriv (util-linux)')
def test_setgid_mail_helper_runs_under_the_units_restrictions(tmp_path):
    """The sendmail route under the unit's settings: Postfix's sendmail hands mail to the setgid
    `postdrop`.  As the service runs it (an unprivileged uid, the unit's bounding set, no
    NoNewPrivileges) a setgid helper gains its group; with no_new_privs it would not.  A copy of
    id(1), setgid to a throw-away group, stands in for postdrop (same kernel rule)."""
    bounding = ' '.join(unit_settings(open(UNIT).read())['CapabilityBoundingSet']).split()
    caps = ','.join(['-all'] + ['+' + c[len('CAP_'):].lower() for c in bounding])
    with temp_user('nfws') as service_user, temp_user('nfwp') as postdrop:
        helper_dir = tmp_path / 'sbin'
        helper_dir.mkdir()
        os.chmod(str(tmp_path), 0o755)
        os.chmod(str(helper_dir), 0o755)
        helper = str(helper_dir / 'postdrop')
        shutil.copy(shutil.which('id'), helper)
        os.chown(helper, 0, postdrop.gid)
        os.chmod(helper, 0o2755)

        def egid(*extra):
            return int(_out(['setpriv', '--reuid=%d' % service_user.uid,
                             '--regid=%d' % service_user.gid, '--clear-groups',
                             '--bounding-set=' + caps, '--inh-caps=-all'] + list(extra) +
                            [helper, '-g']).strip())

        assert egid() == postdrop.gid                     # what the unit allows
        assert egid('--no-new-privs') == service_user.gid   # why NoNewPrivileges is not set


def test_logrotate_config():
    text = open(os.path.join(ROOT, 'etc', 'logrotate.d', 'newfilewatch')).read()
    for directive in ('/var/log/newfilewatch/*.log', 'su fsniper fsniper', 'weekly', 'rotate 8',
                      'compress', 'delaycompress', 'missingok', 'notifempty',
                      'create 0640 fsniper fsniper', 'sharedscripts', 'postrotate',
                      '/usr/bin/newfilewatch reopen-logs', 'endscript'):
        assert directive in text, directive
    code = re.sub(r'#.*', '', text)
    assert 'copytruncate' not in code
    assert 'kill' not in code and 'cat ' not in code and '.pid' not in code
