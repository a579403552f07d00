"""Checksum lists fetched from a real HTTP server on 127.0.0.1, cached on disk, failing softly."""
import logging
import os
import time

import pytest

from newfilewatch import checksums, wordpress
from tests.support.wait import wait_until
from tests.support.wpsite import ChecksumServer, core_checksums


@pytest.fixture
def server():
    s = ChecksumServer()
    yield s
    s.close()


class Logged(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def store_for(tmp_path, logger=None, timeout=5.0, max_age=3600):
    return checksums.ChecksumStore(str(tmp_path / 'cache'), max_age=max_age, timeout=timeout,
                                   logger=logger)


def quiet_logger():
    log = logging.getLogger('test.checksums.%d' % time.monotonic_ns()
                            if hasattr(time, 'monotonic_ns') else 'test.checksums')
    handler = Logged()
    log.addHandler(handler)
    log.propagate = False
    return log, handler


def test_a_list_is_fetched_once_then_read_from_disk(server, tmp_path):
    path = server.serve_core(core_checksums())
    url = server.base + path
    got = store_for(tmp_path).get(url, wordpress.parse_core_checksums, wait=True)
    assert 'wp-admin/about.php' in got
    assert server.hits == [path]
    again = store_for(tmp_path).get(url, wordpress.parse_core_checksums, wait=True)  # new process
    assert again == got and server.hits == [path]
    assert oct(os.stat(str(tmp_path / 'cache')).st_mode & 0o777) == '0o755'


def test_a_stale_list_is_fetched_again_and_kept_when_that_fails(server, tmp_path):
    path = server.serve_core(core_checksums())
    url = server.base + path
    store_for(tmp_path, max_age=0).get(url, wordpress.parse_core_checksums, wait=True)
    server.routes[path] = (500, b'oops')
    log, said = quiet_logger()
    got = store_for(tmp_path, log, max_age=0).get(url, wordpress.parse_core_checksums, wait=True)
    assert len(server.hits) == 2 and 'wp-admin/about.php' in got      # stale beats nothing
    assert any('HTTP 500' in m for m in said.messages)


def test_404_and_false_mean_no_list_and_are_remembered(server, tmp_path):
    url = server.base + '/plugin-checksums/premium/1.0.json'
    store = store_for(tmp_path)
    assert store.get(url, wordpress.parse_plugin_checksums, wait=True) is checksums.MISSING
    path = server.serve_core(b'{"checksums": false}', version='9.9')
    assert store.get(server.base + path, wordpress.parse_core_checksums,
                     wait=True) is checksums.MISSING
    assert store_for(tmp_path).get(url, wordpress.parse_plugin_checksums,
                                   wait=True) is checksums.MISSING
    assert len(server.hits) == 2                     # the second store read both from disk


def test_malformed_or_unreachable_is_logged_once_and_not_retried_at_once(server, tmp_path):
    path = server.serve_core(b'<html>maintenance</html>')
    url = server.base + path
    log, said = quiet_logger()
    store = store_for(tmp_path, log)
    for _ in range(3):
        assert store.get(url, wordpress.parse_core_checksums, wait=True) is None
    assert server.hits == [path]
    assert len([m for m in said.messages if url in m]) == 1
    # another process (a scan worker) sees the failure marker and does not ask again
    assert store_for(tmp_path, log).get(url, wordpress.parse_core_checksums, wait=True) is None
    assert server.hits == [path]
    closed = 'http://127.0.0.1:9/core/checksums/1.0/?version=1&locale=en_US'   # discard port
    assert store.get(closed, wordpress.parse_core_checksums, wait=True) is None
    assert len([m for m in said.messages if closed in m]) == 1


def test_a_slow_server_costs_at_most_the_timeout(server, tmp_path):
    path = server.serve_core(core_checksums())
    server.delay = 3.0
    started = time.monotonic()
    got = store_for(tmp_path, quiet_logger()[0], timeout=0.5).get(
        server.base + path, wordpress.parse_core_checksums, wait=True)
    assert got is None and time.monotonic() - started < 2.5


def test_background_fetch_never_blocks_the_caller(server, tmp_path):
    path = server.serve_core(core_checksums())
    server.delay = 1.0
    url = server.base + path
    store = store_for(tmp_path)
    started = time.monotonic()
    assert store.get(url, wordpress.parse_core_checksums, wait=False) is None
    assert time.monotonic() - started < 0.5
    got = wait_until(lambda: store.get(url, wordpress.parse_core_checksums, wait=False),
                     timeout=10, what='background fetch')
    assert 'wp-admin/about.php' in got and server.hits == [path]
    assert store.idle()


def test_an_unwritable_cache_dir_keeps_lists_in_memory(server, tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a dir')
    path = server.serve_core(core_checksums())
    log, said = quiet_logger()
    store = checksums.ChecksumStore(str(blocker / 'cache'), logger=log)
    for _ in range(2):
        assert 'wp-admin/about.php' in store.get(server.base + path,
                                                 wordpress.parse_core_checksums, wait=True)
    assert server.hits == [path]
    assert any('not writable' in m for m in said.messages)


def test_a_planted_symlink_is_not_followed(server, tmp_path):
    path = server.serve_core(core_checksums())
    url = server.base + path
    store = store_for(tmp_path)
    os.makedirs(str(tmp_path / 'cache'))
    secret = tmp_path / 'secret'
    secret.write_text('{"checksums": {"wp-admin/about.php": "%s"}}' % ('0' * 32))
    os.symlink(str(secret), store._name(url, '.json'))
    got = store.get(url, wordpress.parse_core_checksums, wait=True)
    assert got['wp-admin/about.php'] != frozenset(['0' * 32])    # fetched, link replaced
    assert not os.path.islink(store._name(url, '.json'))


def test_a_scan_without_its_cache_dir_shares_a_fallback_and_says_so_once(server, tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('not a dir')
    fallback = tmp_path / 'run'
    fallback.mkdir()
    path = server.serve_core(core_checksums())
    log, said = quiet_logger()
    for _ in range(2):                       # two workers of one scan
        store = checksums.ChecksumStore(str(blocker / 'c'), logger=log,
                                        fallback_dir=str(fallback))
        assert 'wp-admin/about.php' in store.get(server.base + path,
                                                 wordpress.parse_core_checksums, wait=True)
    assert server.hits == [path]
    assert len([m for m in said.messages if 'not writable' in m]) == 1
