"""The fanotify backend against the real kernel, on a loop-mounted ext4 image and on tmpfs.

Each test mounts a fresh filesystem (tests/support/fs.py) so the whole-filesystem mark sees
only what the test does there; the root is a dir inside it, so events outside the root on the
same filesystem are there to be dropped.  Then the daemon as users run it: marks made as root,
kept over the drop to a throw-away user with CAP_DAC_READ_SEARCH alone.
"""
import logging
import os
import platform
import select
import shutil
import subprocess
import sys
import time

import pytest

from newfilewatch import fanwatch
from newfilewatch.rules import PathRules
from tests.support.fs import KINDS, mounted
from tests.support.nfw import ROOT, WEBSHELL, Events, wait_until, write_config
from tests.support.service import (Layout, kill_quietly, needs_root, proc_status, program,
                                   rmtree, temp_user)
from tests.support.writers import Writer as WriterProcess

RULES = PathRules(include=('*.php', '*.txt'), exclude=('*/wp-content/cache/*', '*/skip/*'))


class Harness(object):
    """A FanWatcher (or whatever make_watcher picks) and the candidates it emitted."""

    def __init__(self, roots, rules=RULES, backend='auto', settle_delay=5.0):
        self.got = []

        class Watch(object):
            pass
        cfg = type('Cfg', (), {})()
        cfg.watch = Watch()
        cfg.watch.dirs, cfg.watch.backend = [str(r) for r in roots], backend
        cfg.watch.settle_delay, cfg.watch.sweep_interval = settle_delay, 300
        self.watcher = fanwatch.make_watcher(cfg, rules, self.got.append)

    def start(self, since=None):
        return self.watcher.start(since=since)

    def paths(self):
        return [c.path for c in self.got]

    def by_path(self, path):
        return [c for c in self.got if c.path == str(path)]

    def pump(self):
        select.select([self.watcher.fileno()], [], [], 0.02)
        while self.watcher.read():
            pass
        self.watcher.tick(time.time())

    def wait_path(self, path, timeout=10.0):
        def step():
            self.pump()
            return str(path) in self.paths()
        return wait_until(step, timeout, interval=0, what=str(path))

    def settle(self):
        """Pump until a marker file written last has come through: all before it has too."""
        marker = os.path.join(self.watcher.roots[0], 'zz-marker-%f.txt' % time.time())
        with open(marker, 'w') as fh:
            fh.write('x')
        self.wait_path(marker)

    def close(self):
        self.watcher.close()


@pytest.fixture(params=KINDS)
def fs(request):
    with mounted(request.param) as point:
        yield point


@pytest.fixture
def harness():
    made = []

    def make(*roots, **kw):
        h = Harness(roots, **kw)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()


def _root(fs):
    root = os.path.join(fs, 'www')
    os.mkdir(root)
    return root


def _write(path, data=b'<?php echo 1;'):
    with open(path, 'wb') as fh:
        fh.write(data)
    return path


def test_auto_picks_fanotify_here_and_sees_created_closed_and_renamed_in(fs, harness):
    root = _root(fs)
    h = harness(root)
    assert h.watcher.backend == 'fanotify'
    h.start()
    a = _write(os.path.join(root, 'a.php'))
    staging = _write(os.path.join(fs, 'upload.tmp'))          # outside the root, same fs
    os.rename(staging, os.path.join(root, 'b.php'))
    h.wait_path(a)
    h.wait_path(os.path.join(root, 'b.php'))
    assert h.by_path(a)[0].reason == 'close_write' and not h.by_path(a)[0].synthetic
    assert h.by_path(os.path.join(root, 'b.php'))[0].reason == 'moved_to'
    writer = h.by_path(a)[0].writer
    assert writer.pid == os.getpid() and writer.uid == os.geteuid()
    assert not [p for p in h.paths() if not p.startswith(root + '/')]   # outside: dropped


def test_new_nested_dirs_need_no_sweep(fs, harness):
    root = _root(fs)
    h = harness(root)
    h.start()
    deep = os.path.join(root, 'a', 'b', 'c')
    os.makedirs(deep)
    shell = _write(os.path.join(deep, 's.php'), WEBSHELL)
    h.wait_path(shell)
    assert [c.synthetic for c in h.by_path(shell)] == [False]


def test_dir_moved_in_from_outside_is_swept_and_one_moved_within_is_not(fs, harness):
    root = _root(fs)
    h = harness(root)
    h.start()
    outside = os.path.join(fs, 'elsewhere', 'pkg')
    os.makedirs(os.path.join(outside, 'sub'))
    inner = _write(os.path.join(outside, 'sub', 'inner.php'))
    h.pump()
    os.rename(outside, os.path.join(root, 'pkg'))
    moved = os.path.join(root, 'pkg', 'sub', 'inner.php')
    h.wait_path(moved)
    got = h.by_path(moved)[0]
    assert got.synthetic and got.reason == 'new dir'
    assert got.writer is not None and got.writer.pid > 0       # whoever moved it in
    assert inner not in h.paths()
    if h.watcher.marks.target_fid:                            # 5.17+: a move within is known
        os.rename(os.path.join(root, 'pkg'), os.path.join(root, 'pkg2'))
        h.settle()
        assert os.path.join(root, 'pkg2', 'sub', 'inner.php') not in h.paths()
    after = _write(os.path.join(root, 'pkg2' if h.watcher.marks.target_fid else 'pkg', 'sub',
                                'later.php'))
    h.wait_path(after)                                        # the renamed tree still resolves


def test_excludes_and_include_globs(fs, harness):
    root = _root(fs)
    h = harness(root)
    h.start()
    cache = os.path.join(root, 'wp-content', 'cache')
    os.makedirs(cache)
    os.makedirs(os.path.join(root, 'skip'))
    _write(os.path.join(cache, 'page.php'))
    _write(os.path.join(root, 'skip', 'x.php'))
    _write(os.path.join(root, 'image.bin'))
    h.settle()
    assert not [p for p in h.paths() if 'cache' in p or '/skip/' in p or p.endswith('.bin')]


def test_non_utf8_name(fs, harness):
    root = _root(fs)
    h = harness(root)
    h.start()
    raw = os.path.join(root.encode(), b'bad\xff\x1b.php')
    _write(raw)
    h.wait_path(os.fsdecode(raw))
    assert os.path.exists(h.by_path(os.fsdecode(raw))[0].path)


def test_deleted_dir_is_skipped_and_counted(fs, harness):
    root = _root(fs)
    h = harness(root)
    h.start()
    gone = os.path.join(root, 'gone')
    os.mkdir(gone)
    _write(os.path.join(gone, 'x.php'))
    shutil.rmtree(gone)                       # before the events are read: the handle is stale
    h.settle()
    assert h.watcher.counts['stale'] >= 1
    assert os.path.join(gone, 'x.php') not in h.paths()


def test_file_kept_open_is_handed_on_after_the_settle_delay(fs, harness):
    root = _root(fs)
    h = harness(root, settle_delay=0.3)
    h.start()
    path = os.path.join(root, 'open.php')
    fh = open(path, 'wb')
    try:
        fh.write(b'<?php')
        fh.flush()
        h.wait_path(path)
        got = h.by_path(path)[0]
        assert got.reason == 'settle' and got.writer.pid == os.getpid()
    finally:
        fh.close()


def test_overflow_is_recovered_by_a_rescan(harness, caplog):
    """The queue holds 16384 events: write more while nothing reads, then read."""
    with mounted('tmpfs', size_mb=256) as point:
        root = _root(point)
        h = harness(root)
        h.start()
        names = []
        for i in range(17000):
            names.append(_write(os.path.join(root, 'f%05d.txt' % i), b'x'))
        with caplog.at_level(logging.WARNING):
            wait_until(lambda: (h.pump(), set(names) <= set(h.paths()))[1], 60,
                       what='every file after the overflow')
        assert h.watcher.overflows >= 1
        assert 'fanotify queue overflowed' in caplog.text
        assert any(c.reason == 'overflow' for c in h.got)


def test_refusing_filesystem_falls_back_to_inotify_for_that_root_only(fs, harness, caplog):
    root = _root(fs)
    with mounted('ramfs') as refused:          # ramfs cannot encode file handles
        with caplog.at_level(logging.INFO):
            h = harness(root, refused)
            h.start()
        assert h.watcher.backend == 'fanotify'
        assert h.watcher.inotify is not None and h.watcher.inotify.roots == [refused]
        lines = [r.getMessage() for r in caplog.records if 'backend inotify' in r.getMessage()]
        assert len(lines) == 1 and refused in lines[0] and 'file handles' in lines[0]
        a = _write(os.path.join(root, 'a.php'))
        b = _write(os.path.join(refused, 'b.php'))
        h.wait_path(a)
        h.wait_path(b)
        assert h.by_path(a)[0].writer is not None and h.by_path(b)[0].writer is None
        h.close()


def test_backend_inotify_is_honoured(fs, harness):
    h = harness(_root(fs), backend='inotify')
    assert getattr(h.watcher, 'backend', 'inotify') == 'inotify' and \
        not isinstance(h.watcher, fanwatch.FanWatcher)


def test_a_new_root_on_a_marked_filesystem_is_picked_up_by_the_sweep(fs, harness):
    base = os.path.join(fs, 'home')
    os.mkdir(base)
    h = harness(os.path.join(base, '*', 'public_html'))
    h.start()
    assert h.watcher.roots == []
    site = os.path.join(base, 'alice', 'public_html')
    os.makedirs(site)
    early = _write(os.path.join(site, 'early.php'))
    h.watcher.sweep(time.time())
    assert h.watcher.roots == [site] and h.watcher.inotify is None
    h.wait_path(early)                                        # swept as a new root
    later = _write(os.path.join(site, 'later.php'))
    h.wait_path(later)


def _seccomp_deny_fanotify_init():
    """preexec_fn: the child's fanotify_init fails with ENOSYS, as on a kernel without it.

    A classic BPF seccomp filter through ctypes prctl (x86_64 syscall numbers): load the
    syscall number, return ERRNO(ENOSYS) for fanotify_init (300), allow everything else.
    """
    import ctypes
    import struct
    libc = ctypes.CDLL(None, use_errno=True)
    ld, jeq, ret = 0x20, 0x15, 0x06
    prog = [(ld, 0, 0, 0), (jeq, 0, 1, 300), (ret, 0, 0, 0x00050000 | 38),
            (ret, 0, 0, 0x7fff0000)]
    raw = b''.join(struct.pack('=HBBI', *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw)

    class Prog(ctypes.Structure):
        _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
    fprog = Prog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(38, 1, 0, 0, 0) != 0:                       # PR_SET_NO_NEW_PRIVS
        os._exit(97)
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:    # PR_SET_SECCOMP, MODE_FILTER
        os._exit(98)


@pytest.mark.skipif(platform.machine() != 'x86_64', reason='seccomp filter uses x86_64 numbers')
def test_kernel_refusing_fanotify_falls_back_to_inotify_with_one_line(tmp_path):
    www = tmp_path / 'www'
    www.mkdir()
    config = write_config(str(tmp_path / 'test.conf'), str(tmp_path))
    events = Events(str(tmp_path / 'events.jsonl'))
    env = dict(os.environ, PYTHONPATH=ROOT)
    with open(str(tmp_path / 'stderr'), 'wb') as err:
        proc = subprocess.Popen(
            [sys.executable, '-m', 'newfilewatch', 'run', '--foreground', '--config', config,
             '--events', events.path, '--watch', str(www)], stdout=subprocess.DEVNULL,
            stderr=err, env=env, preexec_fn=_seccomp_deny_fanotify_init)
    try:
        ready = wait_until(lambda: proc.poll() is None and events.find('ready'), 20,
                           what='ready event')[0]
        assert ready['backend'] == 'inotify'
        shell = _write(str(www / 'x.php'), WEBSHELL)
        events.wait('alert', shell)
    finally:
        proc.terminate()
        proc.wait(20)
    lines = [l for l in (tmp_path / 'stderr').read_text().splitlines() if 'backend' in l]
    assert lines == ['newfilewatch: INFO watch backend inotify: fanotify unavailable: '
                     'the kernel has no fanotify (ENOSYS)']


@needs_root
def test_daemon_keeps_marks_over_the_drop_and_names_the_writer():
    with mounted('ext4') as point, mounted('ramfs') as ramfs, temp_user() as daemon_user, \
            temp_user() as customer:
        base = os.path.join(point, 'srv')
        os.mkdir(base, 0o755)
        www = os.path.join(base, 'www')
        os.mkdir(www, 0o750)
        os.chown(www, customer.uid, customer.gid)              # the daemon reads it by capability
        layout = Layout(base, www, user=daemon_user.name)
        layout.write_config(layout.config_text().replace('dirs = %s' % www,
                                                         'dirs = %s, %s' % (www, ramfs)))
        done = program(['start', '--config', layout.config])
        proc = None
        try:
            assert done.returncode == 0, done.stderr
            pid = layout.pid()
            st = proc_status(pid)
            assert st['Uid'] == (daemon_user.uid,) * 4
            assert '%016x' % st['CapEff'] == '0000000000000004'
            wait_until(lambda: '"backend": "fanotify"' in layout.read(layout.events_file), 10,
                       what='ready event of the fanotify backend')
            # refused as root before the drop: the log gives the filesystem's reason, once
            refusals = [l for l in layout.read(layout.log_file).splitlines()
                        if 'backend inotify' in l]
            assert len(refusals) == 1 and ramfs in refusals[0], refusals
            assert 'cannot encode file handles' in refusals[0]
            shell = os.path.join(www, 'up.php')
            proc = WriterProcess(customer, "echo '%s' > '%s'" % (WEBSHELL.decode().strip(), shell),
                argv0='php-fpm: pool shop', comm=b'php-fpm\x1b[1m')
            wait_until(lambda: '"event": "alert"' in layout.read(layout.events_file), 15,
                       what='the alert for the webshell')
            import json
            events = [json.loads(l) for l in layout.read(layout.events_file).splitlines()]
            alert = [e for e in events if e['event'] == 'alert'][0]
            assert alert['path'] == shell
            assert alert['writer'] == {'pid': proc.pid, 'comm': 'php-fpm\\x1b[1m',
                                       'uid': customer.uid, 'user': customer.name,
                                       'pool': 'shop'}
            log = layout.read(layout.log_file)
            assert 'writer: pid %d php-fpm\\x1b[1m uid %d (%s) pool shop' % (
                proc.pid, customer.uid, customer.name) in log
            assert '\x1b' not in log
            line = [l for l in layout.read(layout.new_files_log).splitlines() if shell in l][0]
            assert line.endswith('>> %s | %s' % (shell, customer.name))   # classic, unchanged
            _reload_adds_roots(layout, base, www)
        finally:
            if proc is not None:
                proc.done()
            program(['stop', '--config', layout.config])
            kill_quietly(layout.pid())
            rmtree(base)


def _reload_adds_roots(layout, base, www):
    """SIGHUP as the dropped user: a root on the marked filesystem is fanotify's at once; one on
    a filesystem not marked at start cannot be marked any more (no CAP_SYS_ADMIN): inotify."""
    import json
    same_fs = os.path.join(base, 'www2')
    os.mkdir(same_fs, 0o755)
    with mounted('tmpfs') as other:
        layout.write_config(layout.config_text().replace(
            'dirs = %s' % www, 'dirs = %s, %s, %s' % (www, same_fs, other)))
        assert program(['reload', '--config', layout.config]).returncode == 0
        wait_until(lambda: '"event": "reloaded"' in layout.read(layout.events_file), 15,
                   what='the reload')
        log = layout.read(layout.log_file)
        assert 'watch backend inotify for %s: fanotify refused: its filesystem was not marked ' \
            'at start' % other in log
        a = _write(os.path.join(same_fs, 'a.php'))
        b = _write(os.path.join(other, 'b.php'))

        def seen():
            events = [json.loads(l) for l in layout.read(layout.events_file).splitlines()]
            return {e['path']: e for e in events if e['event'] == 'new_file'}
        got = wait_until(lambda: a in seen() and b in seen() and seen(), 15, what='both files')
        assert got[a]['writer']['pid'] == os.getpid()          # fanotify: names the writer
        assert got[b]['writer'] == 'none (inotify events and sweeps do not name it)'


@needs_root
def test_unprivileged_run_uses_inotify_and_says_why(tmp_path):
    """Not root: no filesystem can be marked, so plain inotify runs, with one line saying why."""
    www = tmp_path / 'www'
    www.mkdir()
    os.chmod(str(tmp_path), 0o777)
    config = write_config(str(tmp_path / 'test.conf'), str(tmp_path))
    events = Events(str(tmp_path / 'events.jsonl'))
    with temp_user() as user:
        # ambient CAP_DAC_READ_SEARCH only so this machine's Python (maybe under /root) runs
        cmd = ['setpriv', '--reuid', str(user.uid), '--regid', str(user.gid), '--clear-groups',
               '--inh-caps=-all,+dac_read_search', '--ambient-caps=-all,+dac_read_search',
               sys.executable, '-m', 'newfilewatch', 'run', '--foreground', '--config', config,
               '--events', events.path, '--watch', str(www)]
        with open(str(tmp_path / 'stderr'), 'wb') as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err,
                                    env=dict(os.environ, PYTHONPATH=ROOT))
        try:
            ready = wait_until(lambda: proc.poll() is None and events.find('ready'), 20,
                               what='ready event')[0]
            assert ready['backend'] == 'inotify'
        finally:
            proc.terminate()
            proc.wait(20)
    lines = [l for l in (tmp_path / 'stderr').read_text().splitlines() if 'backend' in l]
    assert len(lines) == 1 and 'watch backend inotify: fanotify unavailable: ' in lines[0]
    assert 'EPERM' in lines[0]


def test_mark_paths_cover_existing_roots_and_the_dir_above_each_glob(tmp_path):
    (tmp_path / 'home' / 'alice' / 'public_html').mkdir(parents=True)
    got = fanwatch.mark_paths([str(tmp_path / 'home' / '*' / 'public_html'),
                               str(tmp_path / 'nothing' / 'here' / '*')])
    assert got == [str(tmp_path / 'home' / 'alice' / 'public_html'), str(tmp_path / 'home'),
                   str(tmp_path)]


CHILD = r'''
import logging, os, sys
from newfilewatch import fanwatch
from newfilewatch.rules import PathRules
root, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
marks = fanwatch.prepare([root])                  # as root: the mark is made
os.setgroups([])
os.setgid(gid)
os.setuid(uid)                                    # no PR_SET_KEEPCAPS: every capability gone
logging.basicConfig(level=logging.INFO, format='%(message)s', stream=sys.stdout)
w = fanwatch.FanWatcher(marks, [root], PathRules(), lambda c: None)
w.start()
print('INOTIFY %r' % (w.inotify.roots if w.inotify else None,))
'''


@needs_root
def test_a_drop_without_dac_read_search_falls_back_and_says_so():
    with mounted('tmpfs') as point, temp_user() as user:
        root = _root(point)
        done = subprocess.run([sys.executable, '-c', CHILD, root, str(user.uid), str(user.gid)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, env=dict(os.environ, PYTHONPATH=ROOT),
                              timeout=60)
        assert 'INOTIFY %r' % ([root],) in done.stdout, done.stdout
        assert 'needs CAP_DAC_READ_SEARCH' in done.stdout


def test_a_root_replaced_by_a_tree_moved_in_is_swept(fs, harness):
    root = _root(fs)
    h = harness(root)
    h.start()
    site = os.path.join(fs, 'new-site')
    os.mkdir(site)
    inside = _write(os.path.join(site, 'restored.php'))
    h.settle()                                 # its events were read while outside the root
    assert inside not in h.paths()
    shutil.rmtree(root)
    os.rename(site, root)                      # a backup restored in place of the root
    h.watcher.sweep(time.time())
    h.wait_path(os.path.join(root, 'restored.php'))
    assert h.by_path(os.path.join(root, 'restored.php'))[0].reason == 'new root'


def test_a_root_that_is_a_symlink_is_reported_by_its_name(fs, harness):
    real = _root(fs)
    link = os.path.join(fs, 'html')
    os.symlink(real, link)
    h = harness(link)
    h.start()
    _write(os.path.join(real, 'sub.php'))
    h.wait_path(os.path.join(link, 'sub.php'))
    assert os.path.join(real, 'sub.php') not in h.paths()
