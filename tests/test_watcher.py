"""The watcher against the real kernel: every way a file can arrive is seen, nothing leaks."""
import errno
import os
import select
import time

import pytest

from newfilewatch.rules import PathRules
from newfilewatch.watcher import CTIME_SLACK, Watcher, expand_roots
from tests.support.nfw import wait_until

RULES = PathRules(include=('*.php', '*.txt'), exclude=('*/wp-content/cache/*', '*/skip/*'))


class Harness(object):
    """A Watcher plus the list of candidates it emitted; `pump_until` runs its loop."""

    def __init__(self, root, rules=RULES, **kw):
        self.got = []
        self.watcher = Watcher([str(root)], rules, self.got.append, **kw)

    def start(self, since=None):
        return self.watcher.start(since=since)

    def paths(self):
        return [c.path for c in self.got]

    def pump(self):
        select.select([self.watcher.fileno()], [], [], 0.02)
        while self.watcher.read():
            pass
        self.watcher.tick(time.time())

    def pump_until(self, predicate, timeout=10.0, what='candidate'):
        def step():
            self.pump()
            return predicate()
        return wait_until(step, timeout, interval=0, what=what)

    def wait_path(self, path, timeout=10.0):
        return self.pump_until(lambda: str(path) in self.paths(), timeout, what=str(path))

    def watched(self):
        return sorted(self.watcher.paths.values())

    def close(self):
        self.watcher.close()


@pytest.fixture
def harness(tmp_path):
    made = []

    def make(root=tmp_path, **kw):
        h = Harness(root, **kw)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()


def test_close_write_and_rename_are_both_taken(tmp_path, harness):
    h = harness()
    h.start()
    (tmp_path / 'a.php').write_bytes(b'<?php')
    staging = tmp_path / 'upload.tmp'              # move_uploaded_file(): write elsewhere, rename in
    staging.write_bytes(b'<?php')
    os.rename(str(staging), str(tmp_path / 'b.php'))
    h.wait_path(tmp_path / 'a.php')
    h.wait_path(tmp_path / 'b.php')
    reasons = {c.path: c.reason for c in h.got}
    assert reasons[str(tmp_path / 'b.php')] == 'moved_to'
    assert str(tmp_path / 'upload.tmp') not in reasons      # not an included name


def test_mkdir_p_then_write_is_seen(tmp_path, harness):
    h = harness()
    h.start()
    deep = tmp_path / 'a' / 'b' / 'c'
    os.makedirs(str(deep))
    (deep / 's.php').write_bytes(b'<?php')
    h.wait_path(deep / 's.php')
    h.pump_until(lambda: str(deep) in h.watched(), what='watch on the new dir')


def test_dir_moved_in_from_outside_is_watched_and_swept(tmp_path, harness):
    root, outside = tmp_path / 'www', tmp_path / 'outside'
    root.mkdir()
    (outside / 'sub').mkdir(parents=True)
    (outside / 'sub' / 'old.php').write_bytes(b'<?php')
    h = harness(root)
    h.start()
    os.rename(str(outside), str(root / 'moved'))
    h.wait_path(root / 'moved' / 'sub' / 'old.php')
    assert [c.synthetic for c in h.got] == [True]
    (root / 'moved' / 'sub' / 'new.php').write_bytes(b'<?php')    # and it is watched
    h.wait_path(root / 'moved' / 'sub' / 'new.php')


def test_moved_out_and_deleted_dirs_drop_their_watches(tmp_path, harness):
    root = tmp_path / 'www'
    (root / 'gone' / 'deep').mkdir(parents=True)
    (root / 'leaving' / 'deep').mkdir(parents=True)
    h = harness(root)
    assert h.start() == 5
    os.rename(str(root / 'leaving'), str(tmp_path / 'elsewhere'))
    os.rmdir(str(root / 'gone' / 'deep'))
    os.rmdir(str(root / 'gone'))
    h.pump_until(lambda: h.watched() == [str(root)], what='only the root watched')
    assert not any('unknown-path' in p for p in h.watched())
    (tmp_path / 'elsewhere' / 'deep' / 'x.php').write_bytes(b'<?php')  # no longer ours
    (root / 'here.php').write_bytes(b'<?php')
    h.wait_path(root / 'here.php')
    assert h.paths() == [str(root / 'here.php')]


def test_dir_renamed_inside_the_tree_keeps_watching_under_new_name(tmp_path, harness):
    root = tmp_path / 'www'
    (root / 'old' / 'sub').mkdir(parents=True)
    h = harness(root)
    h.start()
    os.rename(str(root / 'old'), str(root / 'new'))
    h.pump_until(lambda: str(root / 'new' / 'sub') in h.watched(), what='re-pathed watch')
    (root / 'new' / 'sub' / 'x.php').write_bytes(b'<?php')
    h.wait_path(root / 'new' / 'sub' / 'x.php')
    assert not any(p.startswith(str(root / 'old')) for p in h.watched())


def test_excluded_dirs_are_never_watched(tmp_path, harness):
    root = tmp_path / 'www'
    cache = root / 'wp-content' / 'cache'
    (cache / 'deep').mkdir(parents=True)
    h = harness(root)
    h.start()
    assert not any('/cache' in p for p in h.watched())
    (cache / 'deep' / 'page.php').write_bytes(b'<?php')
    (cache / 'new').mkdir()
    (root / 'wp-content' / 'marker.php').write_bytes(b'<?php')
    h.wait_path(root / 'wp-content' / 'marker.php')
    assert h.paths() == [str(root / 'wp-content' / 'marker.php')]
    assert not any('/cache' in p for p in h.watched())


def test_non_utf8_names_do_not_break_the_batch(tmp_path, harness):
    h = harness()
    h.start()
    bad = os.path.join(os.fsencode(str(tmp_path)), b'\xff\xfe evil\n.php')
    with open(bad, 'wb') as fh:
        fh.write(b'<?php')
    (tmp_path / 'after.php').write_bytes(b'<?php')
    h.wait_path(tmp_path / 'after.php')
    assert os.fsencode(h.paths()[0]) == bad       # bytes kept exactly (surrogateescape)


def test_file_kept_open_is_handed_on_after_the_settle_delay(tmp_path, harness):
    h = harness(settle_delay=0.3)
    h.start()
    fh = open(str(tmp_path / 'open.php'), 'wb')
    try:
        fh.write(b'<?php system($_GET[1]);')
        fh.flush()
        h.wait_path(tmp_path / 'open.php', timeout=10)
        assert h.got[0].reason == 'settle'
    finally:
        fh.close()


def test_symlinks_fifos_and_hard_links_are_handed_on_at_once(tmp_path, harness):
    h = harness(settle_delay=3600)               # the settle timer cannot be what finds them
    h.start()
    os.symlink('/etc/shadow', str(tmp_path / 'link.txt'))
    os.mkfifo(str(tmp_path / 'pipe.php'))
    (tmp_path / 'orig.bin').write_bytes(b'x')
    os.link(str(tmp_path / 'orig.bin'), str(tmp_path / 'hard.php'))
    for name in ('link.txt', 'pipe.php', 'hard.php'):
        h.wait_path(tmp_path / name)


def test_restart_catch_up_hands_on_only_files_changed_since(tmp_path, harness):
    (tmp_path / 'old.php').write_bytes(b'<?php')
    old_ctime = os.stat(str(tmp_path / 'old.php')).st_ctime
    wait_until(lambda: time.time() > old_ctime + CTIME_SLACK + 0.2, timeout=10, what='time')
    since = time.time()                            # what the state file would say
    (tmp_path / 'd').mkdir()
    (tmp_path / 'd' / 'new.php').write_bytes(b'<?php')
    past = since - 86400
    os.utime(str(tmp_path / 'd' / 'new.php'), (past, past))   # a faked mtime does not hide it
    h = harness()
    h.start(since=since)
    assert h.paths() == [str(tmp_path / 'd' / 'new.php')]
    assert h.got[0].synthetic and h.got[0].reason == 'catch-up'


def test_deep_tree_and_unreadable_dir_neither_crash_nor_stop_the_walk(tmp_path, harness):
    root = tmp_path / 'www'
    root.mkdir()
    path = str(root)
    fd_depth = 0
    for i in range(4000):                          # deeper than PATH_MAX allows by name
        try:
            os.mkdir(os.path.join(path, 'd'))
        except OSError as exc:
            assert exc.errno == errno.ENAMETOOLONG
            break
        path = os.path.join(path, 'd')
        fd_depth += 1
    locked = root / 'locked'
    locked.mkdir()
    (root / 'ok').mkdir()
    os.chmod(str(locked), 0)
    try:
        h = harness(root)
        count = h.start()
        assert count >= fd_depth // 2
        (root / 'ok' / 'x.php').write_bytes(b'<?php')
        h.wait_path(root / 'ok' / 'x.php')
    finally:
        os.chmod(str(locked), 0o755)
        import subprocess
        subprocess.call(['rm', '-rf', str(root)])   # shutil.rmtree recurses: too deep for it


def test_dir_swapped_for_a_symlink_is_not_followed(tmp_path, harness):
    root = tmp_path / 'www'
    (root / 'sub').mkdir(parents=True)
    secret = tmp_path / 'secret'
    secret.mkdir()
    h = harness(root)
    h.start()
    os.rmdir(str(root / 'sub'))
    os.symlink(str(secret), str(root / 'sub'))
    (secret / 'x.php').write_bytes(b'<?php')
    h.watcher.rescan(since=0)                      # walk again after the swap
    assert not any(p.startswith(str(secret)) for p in h.watched())
    assert str(root / 'sub' / 'x.php') not in h.paths()


def test_glob_roots_expand_and_new_roots_are_picked_up_by_the_sweep(tmp_path, harness):
    (tmp_path / 'home' / 'alice' / 'public_html').mkdir(parents=True)
    pattern = str(tmp_path / 'home' / '*' / 'public_html')
    assert expand_roots([pattern]) == [str(tmp_path / 'home' / 'alice' / 'public_html')]
    got = []
    w = Watcher([pattern], RULES, got.append, sweep_interval=3600)
    try:
        assert w.start() == 1
        bob = tmp_path / 'home' / 'bob' / 'public_html'
        bob.mkdir(parents=True)
        (bob / 'shell.php').write_bytes(b'<?php')
        w.sweep(time.time())
        assert str(bob) in w.roots
        assert [c.path for c in got] == [str(bob / 'shell.php')]
    finally:
        w.close()


@pytest.fixture
def sysctl_value():
    """Set a /proc/sys value for one test and put the old one back."""
    saved = {}

    def set_value(name, value):
        path = '/proc/sys/fs/inotify/' + name
        with open(path) as fh:
            saved.setdefault(path, fh.read())
        with open(path, 'w') as fh:
            fh.write(str(value))
    yield set_value
    for path, value in saved.items():
        with open(path, 'w') as fh:
            fh.write(value)


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to lower fs.inotify.max_queued_events')
def test_queue_overflow_is_recovered_by_a_rescan(tmp_path, harness, sysctl_value):
    sysctl_value('max_queued_events', 64)          # read by the kernel at inotify_init
    h = harness()
    sysctl_value('max_queued_events', 16384)       # others' new instances are not starved
    h.start()
    for i in range(500):                           # nobody reads while these land
        (tmp_path / ('f%03d.php' % i)).write_bytes(b'<?php')
    want = set(str(tmp_path / ('f%03d.php' % i)) for i in range(500))
    h.pump_until(lambda: want <= set(h.paths()), timeout=20, what='all 500 files')
    assert h.watcher.overflows >= 1
    assert any(c.reason == 'overflow' for c in h.got)


def _as_nobody(func):
    """Run func() in a forked child as uid/gid 65534 and return what it returned (JSON-able).

    A fork, not an exec: the interpreter under /root is not executable by nobody.
    """
    import json
    import logging
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # child
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(w, json.dumps(func()).encode())
            code = 0
        except BaseException as exc:
            os.write(w, json.dumps({'error': repr(exc)}).encode())
        finally:
            logging.shutdown()
            os._exit(code)
    os.close(w)
    with os.fdopen(r, 'rb') as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    return json.loads(data.decode())


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to lower fs.inotify.max_user_watches')
def test_watch_limit_is_reported_and_unwatched_dirs_are_swept(tmp_path, sysctl_value, caplog):
    """Runs as `nobody` (a user with no watches of its own) so the low limit bites at once."""
    import logging
    import subprocess
    import tempfile
    top = tempfile.mkdtemp(prefix='nfw-limit-')
    try:
        os.chmod(top, 0o755)
        os.makedirs(os.path.join(top, 'a', 'b', 'c'))
        os.makedirs(os.path.join(top, 'x', 'y'))
        subprocess.check_call(['chown', '-R', 'nobody', top])
        sysctl_value('max_user_watches', 3)
        messages = []

        class Keep(logging.Handler):
            def emit(self, record):
                messages.append(record.getMessage())

        def child():
            got = []
            log = logging.getLogger('test.limit')
            log.addHandler(Keep())
            w = Watcher([top], PathRules(include=('*.php',)), got.append, sweep_interval=3600,
                        logger=log)
            count = w.start()
            with open(os.path.join(top, 'a', 'b', 'c', 'late.php'), 'w') as fh:
                fh.write('<?php')
            w.sweep(time.time() + 1)
            return {'count': count, 'unwatched': sorted(w.unwatched), 'messages': messages,
                    'got': [c.path for c in got]}
        result = _as_nobody(child)
        assert 'error' not in result, result
        assert result['count'] == 3
        said = ' '.join(result['messages'])
        assert 'fs.inotify.max_user_watches' in said and 'newfilewatch tune-sysctl' in said
        assert result['unwatched']
        assert result['got'] == [os.path.join(top, 'a', 'b', 'c', 'late.php')]
    finally:
        subprocess.call(['rm', '-rf', top])


def test_a_root_that_is_a_symlink_is_followed_and_reported_by_its_name(tmp_path):
    real = tmp_path / 'srv' / 'www'
    (real / 'sub').mkdir(parents=True)
    os.symlink(str(real), str(tmp_path / 'html'))          # /var/www/html -> /srv/www
    h = Harness(tmp_path / 'html')
    try:
        assert h.start() == 2
        (real / 'sub' / 'x.php').write_bytes(b'<?php')
        h.wait_path(tmp_path / 'html' / 'sub' / 'x.php')
    finally:
        h.close()


def test_a_root_deleted_or_moved_away_is_watched_again_when_it_is_back(tmp_path):
    root = tmp_path / 'www'
    (root / 'sub').mkdir(parents=True)
    h = Harness(root)
    try:
        h.start()
        os.rename(str(root), str(tmp_path / 'gone'))         # moved away: its watches go
        h.pump_until(lambda: h.watched() == [], what='no watch left')
        (tmp_path / 'gone' / 'sub' / 'not-ours.php').write_bytes(b'<?php')
        root.mkdir()                                          # back, with a file already in it
        (root / 'new.php').write_bytes(b'<?php')
        h.watcher.sweep(time.time())
        assert h.watched() == [str(root)]
        assert h.paths() == [str(root / 'new.php')]
        os.rename(str(root / 'new.php'), str(tmp_path / 'x'))
        os.rmdir(str(root))                                   # deleted: its watch goes
        h.pump_until(lambda: h.watched() == [], what='no watch left after rmdir')
        root.mkdir()
        h.watcher.sweep(time.time())
        (root / 'again.php').write_bytes(b'<?php')
        h.wait_path(root / 'again.php')
    finally:
        h.close()


def test_hostile_dir_names_reach_the_daemon_log_escaped(tmp_path, caplog):
    """A glob root named by an account ('/home/*/public_html') is that account's text."""
    import logging
    caplog.set_level(logging.INFO)
    pattern = str(tmp_path / '*' / 'public_html')
    got = []
    w = Watcher([pattern], RULES, got.append, sweep_interval=3600)
    try:
        w.start()
        evil = os.path.join(os.fsencode(str(tmp_path)), b'x\n2026-01-01 forged line\xff', b'public_html')
        os.makedirs(evil)
        w.sweep(time.time())
        said = [r.getMessage() for r in caplog.records if 'new watch root' in r.getMessage()]
        assert len(said) == 1 and '\n' not in said[0] and '\\n2026-01-01 forged line\\xff' in said[0]
    finally:
        w.close()


def _repoint(link, target):
    """`ln -sfn target link`: a new link renamed over the old one (what deploy tools do)."""
    tmp = link + '.new'
    os.symlink(target, tmp)
    os.replace(tmp, link)


def test_a_root_link_repointed_with_ln_sfn_is_followed_at_the_sweep(tmp_path, harness):
    """Issue 15: a symlinked root re-pointed (the usual deploy switch) was never watched again."""
    a, b = tmp_path / 'release-a', tmp_path / 'release-b'
    a.mkdir()
    b.mkdir()
    (b / 'sub').mkdir()
    link = str(tmp_path / 'current')
    os.symlink(str(a), link)
    h = harness(link, sweep_interval=3600)
    h.start()
    assert h.watcher.roots == [link] and h.watched() == [link]
    _repoint(link, str(b))
    h.watcher.sweep(time.time())                      # the periodic re-check
    assert sorted(h.watched()) == [link, link + '/sub']
    (b / 'sub' / 'new.php').write_bytes(b'<?php')
    h.wait_path(link + '/sub/new.php')
    (a / 'old.php').write_bytes(b'<?php')              # the old release is no longer watched
    h.pump()
    assert link + '/old.php' not in h.paths()


def test_a_root_link_is_followed_at_once_when_its_old_target_is_deleted(tmp_path, harness):
    a, b = tmp_path / 'release-a', tmp_path / 'release-b'
    a.mkdir()
    b.mkdir()
    link = str(tmp_path / 'current')
    os.symlink(str(a), link)
    h = harness(link, sweep_interval=3600)            # no sweep during the test
    h.start()
    _repoint(link, str(b))
    os.rmdir(str(a))                                   # IN_DELETE_SELF of the old target
    h.pump_until(lambda: h.watcher.root_links.get(link) == str(b), what='the new target')
    (b / 'x.php').write_bytes(b'<?php')
    h.wait_path(link + '/x.php')


def test_a_glob_root_linked_out_of_its_dir_is_refused_and_logged(tmp_path, caplog):
    """Issue 15: a customer's public_html -> /usr made the daemon watch the system tree."""
    import logging
    caplog.set_level(logging.WARNING)
    home = tmp_path / 'home'
    (home / 'alice').mkdir(parents=True)
    (home / 'bob' / 'sites' / 'v2').mkdir(parents=True)
    (home / 'carol').mkdir()
    (home / 'alice' / 'public_html').symlink_to('/usr')
    (home / 'bob' / 'public_html').symlink_to(str(home / 'bob' / 'sites' / 'v2'))   # own dir: fine
    elsewhere = tmp_path / 'srv' / 'carol'
    elsewhere.mkdir(parents=True)
    (home / 'carol' / 'public_html').symlink_to(str(elsewhere))
    pattern = str(home / '*' / 'public_html')
    got = []
    w = Watcher([pattern], RULES, got.append, sweep_interval=3600)
    try:
        w.start()
        assert w.roots == [str(home / 'bob' / 'public_html')]
        assert not any(p.startswith('/usr') or 'alice' in p for p in w.paths.values())
        said = [r.getMessage() for r in caplog.records if 'refused' in r.getMessage()]
        assert len(said) == 2 and any('alice' in m and '/usr' in m for m in said)
        w.sweep(time.time())                          # refused again, not said again
        assert len([r for r in caplog.records if 'refused' in r.getMessage()]) == 2
    finally:
        w.close()
    w = Watcher([pattern], RULES, got.append, sweep_interval=3600,
                allow_root_links=[str(tmp_path / 'srv')])
    try:
        w.start()
        assert sorted(w.roots) == [str(home / 'bob' / 'public_html'),
                                   str(home / 'carol' / 'public_html')]
    finally:
        w.close()


def test_root_base():
    from newfilewatch.watcher import root_base
    assert root_base('/home/*/public_html', '/home/alice/public_html') == '/home/alice'
    assert root_base('/var/www/*', '/var/www/site1') == '/var/www'
    assert root_base('/home/*/public_html/*', '/home/a/public_html/x') == '/home/a/public_html'
    assert root_base('/*', '/srv') == '/'


def test_expand_roots_drops_nested_roots_in_n_log_n(tmp_path, monkeypatch):
    """Issue 15: 10,000 glob roots took expand_roots 13.5 s (every root against every other).
    Counted, not timed: the containment tests must grow with n, not n squared."""
    from newfilewatch import watcher as watcher_mod
    for name in ('a', 'a-c', 'a/b', 'a/b/c', 'ab'):
        (tmp_path / 'n' / name).mkdir(parents=True)
    assert expand_roots([str(tmp_path / 'n' / '*'), str(tmp_path / 'n' / 'a' / 'b')]) == [
        str(tmp_path / 'n' / n) for n in ('a', 'a-c', 'ab')]
    home = tmp_path / 'home'
    n = 10000
    for i in range(n):
        os.makedirs(str(home / ('u%05d' % i) / 'public_html'))
    calls = [0]
    real = watcher_mod.under

    def counting(path, root):
        calls[0] += 1
        return real(path, root)
    monkeypatch.setattr(watcher_mod, 'under', counting)
    roots = expand_roots([str(home / '*' / 'public_html'), str(home / 'u00007' / 'public_html')])
    assert len(roots) == n
    assert calls[0] <= 2 * n, calls[0]


def test_a_sweep_of_thousands_of_new_roots_runs_in_slices_between_events(tmp_path):
    """Issue 15: the sweep blocked the main loop ~14.6 s.  Now tick() does at most SWEEP_STEPS
    units of it per turn, and the kernel's events are read in between."""
    from newfilewatch.watcher import SWEEP_STEPS
    home = tmp_path / 'home'
    (home / 'aaa' / 'public_html').mkdir(parents=True)
    got = []
    w = Watcher([str(home / '*' / 'public_html')], RULES, got.append, sweep_interval=3600)
    try:
        assert w.start() == 1
        for i in range(3000):
            os.makedirs(str(home / ('u%04d' % i) / 'public_html'))
        w.tick(w.next_sweep)                          # the sweep is due: its first slice
        assert w._sweep_job is not None and 0 < w.last_slice <= SWEEP_STEPS
        assert len(w.roots) < 3001
        (home / 'aaa' / 'public_html' / 'x.php').write_bytes(b'<?php')
        wait_until(lambda: w.read() or str(home / 'aaa' / 'public_html' / 'x.php') in
                   [c.path for c in got], what='the event, read between two slices')
        assert str(home / 'aaa' / 'public_html' / 'x.php') in [c.path for c in got]
        assert w._sweep_job is not None and w.next_deadline() <= time.time()
        slices = []
        while w._sweep_job is not None:
            w.tick(time.time())
            slices.append(w.last_slice)
        assert len(w.roots) == 3001 and max(slices) <= SWEEP_STEPS and len(slices) > 5
    finally:
        w.close()


def test_a_glob_root_repointed_out_of_its_dir_while_watched_is_dropped(tmp_path, caplog):
    """The customer's public_html pointed inside their home at start, then at /usr."""
    import logging
    caplog.set_level(logging.WARNING)
    home = tmp_path / 'home'
    (home / 'alice' / 'site').mkdir(parents=True)
    link = str(home / 'alice' / 'public_html')
    os.symlink(str(home / 'alice' / 'site'), link)
    got = []
    w = Watcher([str(home / '*' / 'public_html')], RULES, got.append, sweep_interval=3600)
    try:
        w.start()
        assert w.roots == [link] and sorted(w.paths.values()) == [link]
        _repoint(link, '/usr')
        w.sweep(time.time())
        assert w.roots == [] and len(w.paths) == 0
        assert any('refused' in r.getMessage() and '/usr' in r.getMessage()
                   for r in caplog.records)
    finally:
        w.close()
