"""WordPress integrity, pure part: versions, checksum formats and the verdict per file."""
import json

import pytest

from newfilewatch import wordpress as wp
from tests.support.wpsite import md5

SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'


def test_version_php_gives_version_and_locale():
    assert wp.parse_version_php(b"<?php\n$wp_version = '6.4.2';\n") == ('6.4.2', 'en_US')
    assert wp.parse_version_php(b"<?php\n$wp_version = \"5.0.1\";\n$wp_local_package = 'de_DE';\n"
                                ) == ('5.0.1', 'de_DE')
    assert wp.parse_version_php(b"<?php\n// $wp_version = '1';\n") == (None, None)
    # a value that could not be a version never reaches a URL
    assert wp.parse_version_php(b"<?php\n$wp_version = '../../x';\n") == (None, None)
    assert wp.parse_version_php(b"<?php\n$wp_version = '6.4';\n$wp_local_package = 'x/y';\n"
                                ) == ('6.4', 'en_US')


def test_plugin_header_is_read_as_wordpress_reads_it():
    main = b"<?php\n/**\n * Plugin Name: Akismet Anti-spam\n * Version: 5.3 */\n"
    assert wp.plugin_header(main, 'Plugin Name') == 'Akismet Anti-spam'
    assert wp.plugin_version(main) == '5.3'
    assert wp.plugin_version(b"<?php\n// Version: 1.0\n") is None      # no Plugin Name: not main
    late = b"<?php\n" + b"\n" * 9000 + b"/* Plugin Name: x\nVersion: 1 */"
    assert wp.plugin_version(late) is None                               # beyond the 8 KiB read
    assert wp.plugin_version(b"<?php\n/* Plugin Name: x\n Version: 1.0; rm -rf / */") is None


def test_core_checksums_format():
    body = json.dumps({'checksums': {'wp-admin/about.php': 'A' * 32, 'readme.html': [SHA, 'b' * 32],
                                     'bad': 'nothex'}}).encode()
    sums = wp.parse_core_checksums(body)
    assert sums == {'wp-admin/about.php': frozenset(['a' * 32]),
                    'readme.html': frozenset([SHA, 'b' * 32])}
    assert wp.parse_core_checksums(b'{"checksums": false}') is None    # no such version/locale
    for bad in (b'<html>', b'{"files": {}}', b'{"checksums": 3}', b'[]', b'\xff'):
        with pytest.raises(ValueError):
            wp.parse_core_checksums(bad)


def test_plugin_checksums_format_with_lists():
    body = json.dumps({'plugin': 'p', 'version': '1', 'files': {
        'p.php': {'md5': ['a' * 32, 'b' * 32], 'sha256': SHA},
        'readme.txt': {'md5': 'c' * 32},
        'junk': 'x'}}).encode()
    sums = wp.parse_plugin_checksums(body)
    assert sums['p.php'] == {'md5': frozenset(['a' * 32, 'b' * 32]), 'sha256': frozenset([SHA])}
    assert sums['readme.txt']['sha256'] == frozenset()
    assert 'junk' not in sums
    for bad in (b'{"checksums": {}}', b'{"files": {}}', b'nope'):
        with pytest.raises(ValueError):
            wp.parse_plugin_checksums(bad)


def test_core_judgement():
    sums = {'wp-admin/about.php': frozenset([md5(b'a')]), 'wp-content/index.php': frozenset(
        [md5(b'c')]), 'license.txt': frozenset([md5(b'l')])}
    assert wp.judge_core('wp-admin/about.php', md5(b'a'), sums, 'WP').status == wp.GOOD
    assert wp.judge_core('wp-admin/about.php', md5(b'x'), sums, 'WP').status == wp.MODIFIED
    assert wp.judge_core('license.txt', md5(b'x'), sums, 'WP').status == wp.MODIFIED
    assert wp.judge_core('wp-includes/new.php', md5(b'x'), sums, 'WP').status == wp.UNEXPECTED
    assert wp.judge_core('wp-admin/css/x.css', md5(b'x'), sums, 'WP') is None
    assert wp.judge_core('wp-config.php', md5(b'x'), sums, 'WP') is None
    # wp-content (bundled themes, Akismet) is updated apart from core: good or nothing
    assert wp.judge_core('wp-content/index.php', md5(b'c'), sums, 'WP').status == wp.GOOD
    assert wp.judge_core('wp-content/index.php', md5(b'x'), sums, 'WP') is None
    calls = []
    assert wp.judge_core('uploads/a.php', lambda: calls.append(1), sums, 'WP') is None
    assert not calls                                  # no list mentions it: no hashing at all


def test_plugin_judgement_prefers_sha256():
    sums = {'p.php': {'md5': frozenset([md5(b'old')]), 'sha256': frozenset([SHA])},
            'a.php': {'md5': frozenset([md5(b'a')]), 'sha256': frozenset()},
            'readme.txt': {'md5': frozenset([md5(b'r')]), 'sha256': frozenset()}}
    assert wp.judge_plugin('p.php', (md5(b''), SHA), sums, 'p').status == wp.GOOD
    assert wp.judge_plugin('p.php', (md5(b'old'), 'f' * 64), sums, 'p').status == wp.MODIFIED
    assert wp.judge_plugin('a.php', (md5(b'a'), 'f' * 64), sums, 'p').status == wp.GOOD
    assert wp.judge_plugin('readme.txt', (md5(b'x'), 'f' * 64), sums, 'p') is None
    assert wp.judge_plugin('cache/x.php', (md5(b'x'), 'f' * 64), sums, 'p') is None


def test_plugin_paths_and_names():
    assert wp.split_plugin_path('wp-content/plugins/akismet/akismet.php') == ('akismet',
                                                                             'akismet.php')
    assert wp.split_plugin_path('wp-content/plugins/hello.php') is None
    assert wp.split_plugin_path('wp-content/themes/x/y.php') is None
    assert wp.valid_slug('contact-form-7') and not wp.valid_slug('../x') and not wp.valid_slug('A')
    assert set(wp.RULES) == {'integrity.modified', 'integrity.unexpected'}


def test_without_md5_nothing_is_judged_from_md5_alone():
    """FIPS-mode systems refuse md5: a missing digest never means 'modified'."""
    core = {'wp-admin/about.php': frozenset([md5(b'a')])}
    assert wp.judge_core('wp-admin/about.php', None, core, 'WP') is None
    plugin = {'a.php': {'md5': frozenset([md5(b'a')]), 'sha256': frozenset()}}
    assert wp.judge_plugin('a.php', (None, SHA), plugin, 'p') is None
