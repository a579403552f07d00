"""Files of a generated WordPress tree judged against lists served by a real local server;
the daemon skipping known-good new files, also across a plugin update."""
import os

import pytest

from newfilewatch import checksums
from newfilewatch.integrity import Integrity
from newfilewatch.scanner import Scanner
from newfilewatch.engine import Engine
from tests.support.nfw import Runner, wait_until
from tests.support.wpsite import (CORE_FILES, PLUGIN_FILES, ChecksumServer, core_checksums,
                                  make_site, write)


@pytest.fixture
def server():
    s = ChecksumServer()
    yield s
    s.close()


def integrity(server, tmp_path, live=False, disabled=()):
    store = checksums.ChecksumStore(str(tmp_path / 'cache'), timeout=5)
    return Integrity(store, server.core_url(), server.plugin_url(), live=live, disabled=disabled)


def judge(checker, path):
    with open(path, 'rb') as fh:
        j = checker.check(path, fh.read())
    return j and j.status


def test_core_files_good_modified_unexpected(server, tmp_path):
    site = make_site(str(tmp_path / 'site'), plugin_version=None)
    server.serve_core(core_checksums())
    check = integrity(server, tmp_path)
    for rel in CORE_FILES:
        assert judge(check, os.path.join(site, rel)) == 'good', rel
    write(os.path.join(site, 'wp-login.php'), CORE_FILES['wp-login.php'] + b'@eval($_POST[1]);\n')
    assert judge(check, os.path.join(site, 'wp-login.php')) == 'modified'
    write(os.path.join(site, 'wp-includes', 'css', 'x.php'), b'<?php echo 1;')
    assert judge(check, os.path.join(site, 'wp-includes', 'css', 'x.php')) == 'unexpected'
    assert judge(check, os.path.join(site, 'wp-config.php')) is None
    write(os.path.join(site, 'wp-content', 'uploads', 'a.php'), b'<?php echo 1;')
    assert judge(check, os.path.join(site, 'wp-content', 'uploads', 'a.php')) is None
    assert len(server.hits) == 1                     # one list for the whole install
    # outside any install: no lookup at all
    write(str(tmp_path / 'other' / 'a.php'), b'<?php echo 1;')
    assert judge(check, str(tmp_path / 'other' / 'a.php')) is None
    disabled = integrity(server, tmp_path, disabled=('integrity.modified',))
    assert judge(disabled, os.path.join(site, 'wp-login.php')) is None
    assert judge(disabled, os.path.join(site, 'wp-includes', 'css', 'x.php')) == 'unexpected'


def test_a_localised_install_asks_for_its_locale(server, tmp_path):
    site = make_site(str(tmp_path / 'site'), plugin_version=None)
    from tests.support.wpsite import version_php
    write(os.path.join(site, 'wp-includes', 'version.php'), version_php(locale='de_DE'))
    server.serve_core(core_checksums(locale='de_DE'), locale='de_DE')
    assert judge(integrity(server, tmp_path), os.path.join(site, 'index.php')) == 'good'
    assert server.hits[0].endswith('locale=de_DE')


def test_plugin_files_and_a_slug_shared_with_another_plugin(server, tmp_path):
    site = make_site(str(tmp_path / 'site'))
    server.serve_core(core_checksums())
    server.serve_plugin('1.0')
    check = integrity(server, tmp_path)
    plugin = os.path.join(site, 'wp-content', 'plugins', 'hello-there')
    for rel in PLUGIN_FILES['1.0']:
        assert judge(check, os.path.join(plugin, rel)) == 'good', rel
    write(os.path.join(plugin, 'inc', 'run.php'), b'<?php echo "changed";')
    assert judge(check, os.path.join(plugin, 'inc', 'run.php')) == 'modified'
    write(os.path.join(plugin, 'cache.php'), b'<?php return 1;')
    assert judge(check, os.path.join(plugin, 'cache.php')) is None
    # a home-made plugin that happens to be called like one on WordPress.org: no file matches
    other = os.path.join(site, 'wp-content', 'plugins', 'hello-there2')
    for rel, data in PLUGIN_FILES['1.0'].items():
        write(os.path.join(other, rel), data + b'// ours\n')
    server.serve_plugin('1.0', slug='hello-there2')
    assert judge(check, os.path.join(other, 'inc', 'run.php')) is None


def test_live_mode_only_ever_says_known_good(server, tmp_path):
    site = make_site(str(tmp_path / 'site'), plugin_version=None)
    server.serve_core(core_checksums())
    check = integrity(server, tmp_path, live=True)
    path = os.path.join(site, 'wp-admin', 'about.php')
    assert judge(check, path) is None                # first sight: fetch queued, rules judge
    wait_until(lambda: check.store.idle() and judge(check, path) == 'good', timeout=10,
               what='list fetched in the background')
    write(os.path.join(site, 'wp-includes', 'new.php'), b'<?php echo 1;')
    assert judge(check, os.path.join(site, 'wp-includes', 'new.php')) is None


def test_scanner_skips_known_good_and_alerts_modified_whatever_the_rules(server, tmp_path):
    site = make_site(str(tmp_path / 'site'), plugin_version=None)
    server.serve_core(core_checksums())
    scanner = Scanner(Engine(), integrity=integrity(server, tmp_path))
    stock = scanner.scan(os.path.join(site, 'wp-includes', 'class-wp-shell.php'))
    assert stock.known_good and not stock.suspicious and not stock.hits
    assert 'WordPress 6.4.2' in stock.note
    write(os.path.join(site, 'wp-admin', 'about.php'), b'<?php echo "About!";\n')
    changed = scanner.scan(os.path.join(site, 'wp-admin', 'about.php'))
    assert changed.suspicious and [h.rule for h in changed.hits] == ['integrity.modified']
    bare = Scanner(Engine()).scan(os.path.join(site, 'wp-includes', 'class-wp-shell.php'))
    assert bare.suspicious and not bare.known_good   # the same file without the lists


def _events(runner, kind):
    return [e for e in runner.events.poll() if e['event'] == kind]


def test_daemon_skips_known_good_new_files_also_after_a_plugin_update(server, tmp_path):
    www = tmp_path / 'www'
    www.mkdir()
    site = make_site(str(www / 'site'))
    server.serve_core(core_checksums())
    server.serve_plugin('1.0')
    server.serve_plugin('2.0')
    cache = tmp_path / 'cache'
    r = Runner(str(tmp_path), str(www), server.config(str(cache)))
    try:
        r.ready()
        # the first new files make the daemon fetch the lists in the background
        write(os.path.join(site, 'wp-includes', 'functions.php'), CORE_FILES[
            'wp-includes/functions.php'])
        plugin = os.path.join(site, 'wp-content', 'plugins', 'hello-there')
        write(os.path.join(plugin, 'readme.txt'), PLUGIN_FILES['1.0']['readme.txt'])
        wait_until(lambda: len(server.hits) >= 2 and len(os.listdir(str(cache))) >= 4,
                   timeout=20, what='core and plugin lists cached')
        shell_like = os.path.join(site, 'wp-includes', 'class-wp-shell.php')
        write(shell_like, CORE_FILES['wp-includes/class-wp-shell.php'])
        event = r.events.wait('new_file', shell_like, timeout=20)
        assert 'known good' in event.get('note', '')
        # the plugin is updated: its main file first, then the others
        write(os.path.join(plugin, 'hello-there.php'), PLUGIN_FILES['2.0']['hello-there.php'])
        wait_until(lambda: any(h.endswith('/2.0.json') for h in server.hits), timeout=20,
                   what='the new version\'s list asked for')
        wait_until(lambda: len(os.listdir(str(cache))) >= 6, timeout=20, what='2.0 cached')
        run = os.path.join(plugin, 'inc', 'run.php')
        write(run, PLUGIN_FILES['2.0']['inc/run.php'])            # eval($_POST[..]): would alert
        event = r.events.wait('new_file', run, timeout=20)
        assert 'plugin hello-there 2.0' in event.get('note', '')
        # a real shell next to them is alerted as ever
        write(os.path.join(plugin, 'x.php'), b'<?php system($_GET["c"]);')
        r.events.wait('alert', os.path.join(plugin, 'x.php'), timeout=20)
        assert [e['path'] for e in _events(r, 'alert')] == [os.path.join(plugin, 'x.php')]
    finally:
        r.stop()


def test_a_patched_build_is_only_ever_known_good(server, tmp_path):
    """Distribution packages change version.php and other files: no 'modified' flood."""
    site = make_site(str(tmp_path / 'site'), plugin_version=None)
    from tests.support.wpsite import version_php
    write(os.path.join(site, 'wp-includes', 'version.php'), version_php() + b'// patched\n')
    write(os.path.join(site, 'wp-login.php'), b'<?php // packaged differently\n')
    server.serve_core(core_checksums())
    check = integrity(server, tmp_path)
    assert judge(check, os.path.join(site, 'wp-admin', 'about.php')) == 'good'
    assert judge(check, os.path.join(site, 'wp-login.php')) is None
    write(os.path.join(site, 'wp-includes', 'new.php'), b'<?php echo 1;')
    assert judge(check, os.path.join(site, 'wp-includes', 'new.php')) is None


def test_a_hanging_checksum_server_never_holds_up_the_watcher(server, tmp_path):
    www = tmp_path / 'www'
    www.mkdir()
    r = Runner(str(tmp_path), str(www), server.config(str(tmp_path / 'cache'),
                                                      '[integrity]\ntimeout = 60\n'))
    server.serve_core(core_checksums())
    server.delay = 60                                 # answers after the test is over
    try:
        r.ready()
        site = make_site(str(www / 'site'), plugin_version=None)
        shell = os.path.join(site, 'wp-includes', 'class-wp-shell.php')
        r.events.wait('alert', shell, timeout=20)    # judged by the rules meanwhile
        wait_until(lambda: server.hits, timeout=20, what='the fetch to start')
        write(os.path.join(site, 'x.php'), b'<?php system($_GET["c"]);')
        r.events.wait('alert', os.path.join(site, 'x.php'), timeout=20)
        assert not [n for n in os.listdir(str(tmp_path / 'cache'))
                    if n.endswith('.json')]          # handled while the fetch still hangs
    finally:
        r.stop()
