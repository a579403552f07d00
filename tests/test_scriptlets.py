"""The RPM's scriptlets run for real: rpm (Debian's) installs, reinstalls, upgrades and erases the
package inside a throw-away Debian root, so %pre/%post/%preun/%postun execute as rpm runs them,
with the root's own useradd, /bin/sh and init script, and a real daemon that the upgrade
restarts and the erase stops.

The root: `debootstrap --variant=minbase` with Python and the runtime libraries, built once and
cached in /var/tmp (keyed by a hash of what goes in; ~40 s to build, 400 MB), then used through
an overlay in a private mount namespace, so every run starts from the same clean root and leaves
the cache untouched.  Stand-ins, each because the real one cannot run in a Debian root:
  - /sbin/chkconfig: a stub recording its argv (Debian has no chkconfig); the first install
    runs without it, to show the scriptlets tolerate its absence;
  - /sbin/service: runs /etc/rc.d/init.d/NAME ACTION as EL's `service` does, and records it;
  - a .pth file puts EL's /usr/lib/python3.X/site-packages on the root's sys.path (Debian's
    python reads dist-packages).
The kernel's sysctl: inside the namespace a regular file is bind-mounted over
/proc/sys/fs/inotify/max_user_watches (checked by inode before anything runs), so tune-sysctl
in %post writes that file, never the host's value (asserted unchanged at the end).
Needs root, debootstrap and network to deb.debian.org (the first time); slow.
"""
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from tests.support.rpmbuild import build
from tests.support.service import IS_ROOT, alive
from tests.support.wait import wait_until

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not IS_ROOT, reason='needs root (chroot, mounts)'),
              pytest.mark.skipif(not (shutil.which('debootstrap') and shutil.which('rpmbuild')),
                                 reason='needs debootstrap and rpm (tests/setup.sh)'),
              pytest.mark.skipif(bool(os.environ.get('NEWFILEWATCH_OFFLINE')),
                                 reason='NEWFILEWATCH_OFFLINE: the root needs deb.debian.org')]

MIRROR = 'http://deb.debian.org/debian'
PACKAGES = ['python3', 'python3-pyinotify', 'python3-configobj', 'python3-daemon',
            'python3-lockfile', 'rpm', 'passwd']
RECIPE = 'v1'                 # bump when the way the root is made changes
PROC_SYSCTL = '/proc/sys/fs/inotify/max_user_watches'

STUB_CHKCONFIG = '#!/bin/sh\necho "$*" >> /var/log/stub-chkconfig.log\nexit 0\n'
STUB_SERVICE = ('#!/bin/sh\n# EL initscripts\' service(8): the init script with a clean environment\n'
                'echo "$*" >> /var/log/stub-service.log\nname=$1; shift\n'
                'exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /etc/rc.d/init.d/"$name" "$@"\n')


def _suite():
    try:
        with open('/etc/os-release') as fh:
            for line in fh:
                if line.startswith('VERSION_CODENAME='):
                    return line.split('=', 1)[1].strip().strip('"') or 'bookworm'
    except OSError:
        pass
    return 'bookworm'


def cached_root():
    """The debootstrapped root, made once per (suite, packages, recipe)."""
    suite = _suite()
    key = hashlib.sha256(('%s %s %s' % (suite, ','.join(PACKAGES), RECIPE)).encode()).hexdigest()
    path = '/var/tmp/newfilewatch-debroot-%s-%s' % (suite, key[:12])
    if os.path.isfile(os.path.join(path, '.complete')):
        return path
    work = '%s.tmp-%d' % (path, os.getpid())
    done = subprocess.run(['debootstrap', '--variant=minbase', '--include=' + ','.join(PACKAGES),
                           suite, work, MIRROR], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=1800)
    if done.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        pytest.fail('debootstrap failed:\n' + done.stdout[-3000:])
    subprocess.run(['chroot', work, 'apt-get', 'clean'], check=True)
    open(os.path.join(work, '.complete'), 'w').close()
    try:
        os.rename(work, path)
    except OSError:                      # another run finished first: use that one
        shutil.rmtree(work, ignore_errors=True)
    return path


class DebianRoot(object):
    """A clean overlay of the cached root, mounted in a private mount namespace held open by a
    sleeping process; run() enters that namespace and chroots."""

    def __init__(self, lower, scratch):
        self.scratch = scratch
        self.root = os.path.join(scratch, 'root')
        self.sysctl_file = os.path.join(scratch, 'max_user_watches')
        for d in ('upper', 'work', 'root'):
            os.mkdir(os.path.join(scratch, d))
        with open(self.sysctl_file, 'w') as fh:
            fh.write('8192\n')                         # the old EL6 default, to be raised
        setup = ('set -e\n'
                 'mount -t overlay overlay -o lowerdir={lower},upperdir={s}/upper,workdir={s}/work'
                 ' {r}\n'
                 'mount -t proc proc {r}/proc\n'
                 'mount --bind {f} {r}{proc}\n'
                 '[ "$(stat -c %d:%i {r}{proc})" = "$(stat -c %d:%i {f})" ]\n'
                 'echo ready\nexec sleep 86400\n').format(lower=lower, s=scratch, r=self.root,
                                                         f=self.sysctl_file, proc=PROC_SYSCTL)
        self.holder = subprocess.Popen(['unshare', '--mount', '--propagation', 'private',
                                        'sh', '-c', setup], stdout=subprocess.PIPE,
                                       universal_newlines=True)
        line = self.holder.stdout.readline()
        if line.strip() != 'ready':
            self.holder.wait(10)
            raise AssertionError('could not set up the root (overlay, proc, sysctl bind)')

    def run(self, script, check=True):
        """Run a shell script inside the root; the CompletedProcess (stdout+stderr)."""
        done = subprocess.run(['nsenter', '--target', str(self.holder.pid), '--mount', '--',
                               'chroot', self.root, '/bin/sh', '-c', script],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=300,
                              env={'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C'})
        if check:
            assert done.returncode == 0, '%s\n---\n%s' % (script, done.stdout[-4000:])
        return done

    def path(self, inside):
        """A path of the root as seen from the host (through the namespace's mounts: read via
        the holder's /proc/PID/root)."""
        return '/proc/%d/root%s%s' % (self.holder.pid, self.root, inside)

    def read(self, inside):
        try:
            with open(self.path(inside)) as fh:
                return fh.read()
        except OSError:
            return None

    def write(self, inside, text, mode=0o644):
        with open(self.path(inside), 'w') as fh:
            fh.write(text)
        os.chmod(self.path(inside), mode)

    def sysctl(self):
        with open(self.sysctl_file) as fh:
            return fh.read().strip()

    def close(self):
        # whatever still runs inside (a daemon left by a failed test) goes with the root
        for entry in os.listdir('/proc'):
            if entry.isdigit() and int(entry) != self.holder.pid:
                try:
                    if os.readlink('/proc/%s/root' % entry) == self.root:
                        os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
        self.holder.kill()
        self.holder.wait(10)
        shutil.rmtree(self.scratch, ignore_errors=True)


@pytest.fixture(scope='module')
def rpms():
    """Two builds of this checkout: release 1 and a later release (same files)."""
    first_top, first = build('--without systemd')
    second_top, second = build('--without systemd --define "dist .2"')
    assert os.path.basename(second) != os.path.basename(first)
    yield first, second
    shutil.rmtree(first_top, ignore_errors=True)
    shutil.rmtree(second_top, ignore_errors=True)


@pytest.fixture(scope='module')
def debroot(rpms):
    host_before = open(PROC_SYSCTL).read()
    root = DebianRoot(cached_root(), tempfile.mkdtemp(prefix='nfw-debroot-', dir='/var/tmp'))
    try:
        listed = subprocess.run(['rpm', '-qpl', rpms[0]], stdout=subprocess.PIPE,
                                universal_newlines=True, check=True).stdout.split()
        sitelib = os.path.dirname([p for p in listed if p.endswith('/site-packages/newfilewatch')][0])
        root.write('/usr/lib/python3/dist-packages/el-site-packages.pth', sitelib + '\n')
        root.write('/sbin/service', STUB_SERVICE, 0o755)
        # System uids below the host's usual ones: the host's throw-away test users (999
        # downwards) must not share a uid with the root's fsniper, whose daemon runs on the
        # host's kernel (a test killing its user's processes would kill it).
        root.run("sed -i -e 's/^#\\?SYS_UID_MAX.*/SYS_UID_MAX 899/' "
                 "-e 's/^#\\?SYS_GID_MAX.*/SYS_GID_MAX 899/' /etc/login.defs && "
                 "grep -q '^SYS_UID_MAX 899' /etc/login.defs")
        root.run('mkdir -p /srv/www /tmp/rpms && rpm --initdb')
        for rpm in rpms:
            shutil.copy(rpm, root.path('/tmp/rpms/'))
        yield root
    finally:
        root.close()
        assert open(PROC_SYSCTL).read() == host_before        # the host's limit never touched


def _passwd_entries(root, name):
    return [line.split(':') for line in (root.read('/etc/passwd') or '').splitlines()
            if line.split(':')[0] == name]


def _daemon_log(root):
    return 'daemon log:\n%s\nservice calls:\n%s' % (
        root.read('/var/log/newfilewatch/newfilewatch.log'), root.read('/var/log/stub-service.log'))


def _daemon_pid(root):
    # /var/run -> /run: an absolute link, which root.path() would resolve on the host
    text = root.read('/run/newfilewatch/newfilewatch.pid')
    return int(text.split()[0]) if text and text.split() else None


def test_install_without_chkconfig_creates_the_user_and_raises_the_sysctl(debroot, rpms):
    root = debroot
    assert _passwd_entries(root, 'fsniper') == []
    root.run('rpm -i --nodeps /tmp/rpms/%s' % os.path.basename(rpms[0]))   # no chkconfig: ok
    assert not os.path.exists(root.path('/sbin/chkconfig'))
    users = _passwd_entries(root, 'fsniper')
    assert len(users) == 1
    name, _, uid, gid, gecos, home, shell = users[0]
    assert (home, shell) == ('/var/lib/newfilewatch', '/sbin/nologin')   # the useradd arguments
    assert int(uid) <= 899                              # -r: a system account (login.defs above)
    assert [g for g in root.read('/etc/group').splitlines() if g.startswith('fsniper:')]
    assert root.sysctl() == '524288'                                       # raised now
    persistent = root.read('/etc/sysctl.d/90-newfilewatch.conf') or root.read('/etc/sysctl.conf')
    assert 'fs.inotify.max_user_watches = 524288' in persistent            # and at boot
    for d in ('/var/log/newfilewatch', '/var/lib/newfilewatch'):
        assert os.stat(root.path(d)).st_uid == int(uid), d


def test_reinstall_registers_the_service_and_keeps_one_user(debroot, rpms):
    root = debroot
    uid = _passwd_entries(root, 'fsniper')[0][2]
    root.write('/sbin/chkconfig', STUB_CHKCONFIG, 0o755)
    rpm = '/tmp/rpms/%s' % os.path.basename(rpms[0])
    root.run('rpm -e --nodeps newfilewatch && rpm -i --nodeps %s' % rpm)
    assert root.read('/var/log/stub-chkconfig.log').splitlines() == [
        '--del newfilewatch', '--add newfilewatch', 'newfilewatch off']  # registered, disabled
    root.run('rpm -i --nodeps --replacepkgs %s' % rpm)                 # installed twice
    # $1 is 2 while the old copy is still counted: --add again, but an admin's `on` is kept
    assert root.read('/var/log/stub-chkconfig.log').splitlines()[3:] == ['--add newfilewatch']
    assert [e[2] for e in _passwd_entries(root, 'fsniper')] == [uid]       # created once


def test_upgrade_keeps_the_edited_config_and_restarts_the_daemon(debroot, rpms):
    root = debroot
    config = root.read('/etc/newfilewatch.conf')
    edited = config.replace('dirs = /var/www/html, /home/*/public_html', 'dirs = /srv/www')
    edited = edited.replace('[log]\n', '[log]\nsyslog = False\n', 1)
    assert edited != config
    root.write('/etc/newfilewatch.conf', edited, 0o640)
    root.run('chgrp fsniper /etc/newfilewatch.conf')
    done = root.run('service newfilewatch start')
    assert '[  OK  ]' in done.stdout
    before = _daemon_pid(root)
    assert before and alive(before)
    with open(root.sysctl_file, 'w') as fh:                        # an admin's larger value
        fh.write('1048576\n')

    root.run('rpm -U --nodeps /tmp/rpms/%s' % os.path.basename(rpms[1]))
    assert root.run("rpm -q --qf '%{release}' newfilewatch").stdout.strip() == '1.2'
    assert root.read('/etc/newfilewatch.conf') == edited             # %config(noreplace)
    assert not os.path.exists(root.path('/etc/newfilewatch.conf.rpmsave'))
    assert 'newfilewatch condrestart' in root.read('/var/log/stub-service.log')
    wait_until(lambda: _daemon_pid(root) not in (None, before), timeout=30,
               what='a new daemon after the upgrade')
    after = _daemon_pid(root)
    assert not alive(before)
    assert alive(after), _daemon_log(root)                            # restarted
    assert root.sysctl() == '1048576'                                  # never lowered
    assert len(_passwd_entries(root, 'fsniper')) == 1
    assert root.read('/var/log/stub-chkconfig.log').splitlines()[-1] == '--add newfilewatch'


def test_erase_stops_the_daemon_and_deregisters(debroot):
    root = debroot
    pid = _daemon_pid(root)
    assert pid and alive(pid), _daemon_log(root)
    root.run('rpm -e --nodeps newfilewatch')
    wait_until(lambda: not alive(pid), timeout=30, what='the daemon to stop on erase')
    assert 'newfilewatch stop' in root.read('/var/log/stub-service.log')
    assert root.read('/var/log/stub-chkconfig.log').splitlines()[-1] == '--del newfilewatch'
    assert not os.path.exists(root.path('/usr/bin/newfilewatch'))
    assert len(_passwd_entries(root, 'fsniper')) == 1                 # the user stays
    assert root.sysctl() == '1048576'
