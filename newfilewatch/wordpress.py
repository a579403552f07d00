"""WordPress integrity, the pure part: read versions and checksum lists, judge one file.

The most common false alarm against every scanner is stock WordPress and plugin code, and the
classic infection is code injected into a real core file.  WordPress.org publishes the md5 of
every core file per version and locale, and md5/sha256 of every plugin file per version (what
Wordfence and `wp core verify-checksums` compare with).  This module turns those lists and the
version files of an install into plain values and decides, for one file, whether it is
  good        its content is the published one: no analysis, no alert;
  modified    a listed core/plugin file with other content: an alert of its own;
  unexpected  a .php in wp-admin/ or wp-includes/ that the core list does not know: an alert;
  None        no opinion: the rules judge it as any other file.
No I/O here (integrity.py reads the install, checksums.py fetches and caches the lists).

The response formats, as the services send them (checked in WordPress's get_core_checksums(),
WP-CLI's checksum-command and meta.trac #3192 / #4008):
  core    https://api.wordpress.org/core/checksums/1.0/?version=V&locale=L
          {"checksums": {"wp-admin/about.php": "<md5>", ...}}; {"checksums": false} when that
          version/locale has no package (yet: localised packages come hours after a release)
  plugin  https://downloads.wordpress.org/plugin-checksums/SLUG/VERSION.json
          {"plugin": .., "version": .., "source": [..], "zip": [..],
           "files": {"readme.txt": {"md5": "<md5>", "sha256": "<sha256>"}, ...}}
          where md5 or sha256 may be a list (several builds were published under one version);
          404 for a plugin or version WordPress.org does not host.
"""
import collections
import json
import re

# The rules this module can raise, listed by `newfilewatch rules` and accepted by
# [scan] disabled_rules (see cli.cmd_rules and service.make_engine, the two hooks).
Rule = collections.namedtuple('Rule', 'name severity weight summary')
RULES = collections.OrderedDict((r.name, r) for r in (
    Rule('integrity.modified', 'high', 10,
         'a WordPress core or plugin file differs from the checksum WordPress.org publishes for '
         'its version (injected code in a real core file is the classic infection); raised '
         'whatever the other rules say'),
    Rule('integrity.unexpected', 'high', 10,
         'a .php file inside wp-admin/ or wp-includes/ that the published core file list of the '
         'installed version does not contain'),
))

GOOD, MODIFIED, UNEXPECTED = 'good', 'modified', 'unexpected'
# What one file comes to: status is GOOD/MODIFIED/UNEXPECTED, note says which list and why.
Judgement = collections.namedtuple('Judgement', 'status note')

# Files a site owner or a translation legitimately edits (WP-CLI's "soft changes").
_SOFT_PLUGIN_FILES = ('readme.txt', 'readme.md')
_CORE_DIRS = ('wp-admin/', 'wp-includes/')
# Values that go into a URL and a cache key; anything else is not a WordPress.org name.
_VERSION_RE = re.compile(r'^[0-9A-Za-z][0-9A-Za-z._+-]{0,39}$')
_LOCALE_RE = re.compile(r'^[A-Za-z]{2,3}(?:_[A-Za-z0-9]{2,8}){0,2}$')
_SLUG_RE = re.compile(r'^[a-z0-9][a-z0-9._-]{0,199}$')
_HEX_RE = re.compile(r'^[0-9a-f]{32}$|^[0-9a-f]{64}$')

HEADER_BYTES = 8192          # WordPress's get_file_data() reads the first 8 KiB for headers


def valid_version(value):
    return bool(value) and bool(_VERSION_RE.match(value))


def valid_locale(value):
    return bool(value) and bool(_LOCALE_RE.match(value))


def valid_slug(value):
    return bool(value) and bool(_SLUG_RE.match(value))


def parse_version_php(data):
    """(version, locale) from wp-includes/version.php; (None, None) when it has no version.

    `$wp_local_package` is set only by localised packages; en_US is what the API calls the rest.
    """
    text = data.decode('utf-8', 'replace') if isinstance(data, bytes) else data
    version = re.search(r'''^\s*\$wp_version\s*=\s*['"]([^'"\n]{1,40})['"]\s*;''', text, re.M)
    locale = re.search(r'''^\s*\$wp_local_package\s*=\s*['"]([^'"\n]{1,20})['"]\s*;''', text,
                       re.M)
    if not version or not valid_version(version.group(1)):
        return None, None
    loc = locale.group(1) if locale and valid_locale(locale.group(1)) else 'en_US'
    return version.group(1), loc


def plugin_header(data, name):
    """Header `name` (e.g. 'Version') as WordPress's get_file_data() reads it, or None."""
    text = data[:HEADER_BYTES].decode('utf-8', 'replace') if isinstance(data, bytes) \
        else data[:HEADER_BYTES]
    text = text.replace('\r', '\n')
    m = re.search(r'^(?:[ \t]*<\?php)?[ \t/*#@]*%s:(.*)$' % re.escape(name), text, re.M | re.I)
    if not m:
        return None
    value = re.sub(r'\s*(?:\*/|\?>).*', '', m.group(1)).strip()   # _cleanup_header_comment()
    return value or None


def plugin_version(data):
    """The plugin's version when `data` is a main plugin file (has `Plugin Name:`), else None."""
    if plugin_header(data, 'Plugin Name') is None:
        return None
    version = plugin_header(data, 'Version')
    return version if valid_version(version) else None


def _hashes(value):
    """A hash or a list of hashes -> frozenset of lower-case hex strings (bad entries dropped)."""
    values = value if isinstance(value, list) else [value]
    return frozenset(v.lower() for v in values if isinstance(v, str) and _HEX_RE.match(v.lower()))


def _load(body):
    try:
        return json.loads(body.decode('utf-8') if isinstance(body, bytes) else body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError('not JSON: %s' % exc)


def parse_core_checksums(body):
    """{relpath: frozenset(md5)} from the core API's answer; None for `"checksums": false`.

    Raises ValueError when the body is not that API's format.
    """
    doc = _load(body)
    if not isinstance(doc, dict) or 'checksums' not in doc:
        raise ValueError('no "checksums" key')
    sums = doc['checksums']
    if sums is False or sums is None or sums == []:
        return None
    if not isinstance(sums, dict):
        raise ValueError('"checksums" is neither an object nor false')
    out = {}
    for path, value in sums.items():
        hashes = _hashes(value)
        if isinstance(path, str) and hashes:
            out[path] = hashes
    if not out:
        raise ValueError('"checksums" lists no file with an md5')
    return out


def parse_plugin_checksums(body):
    """{relpath: {'md5': frozenset, 'sha256': frozenset}} from a plugin-checksums JSON file.

    Raises ValueError when the body is not that format.
    """
    doc = _load(body)
    if not isinstance(doc, dict) or not isinstance(doc.get('files'), dict):
        raise ValueError('no "files" object')
    out = {}
    for path, value in doc['files'].items():
        if not isinstance(path, str) or not isinstance(value, dict):
            continue
        entry = {'md5': _hashes(value.get('md5')), 'sha256': _hashes(value.get('sha256'))}
        if entry['md5'] or entry['sha256']:
            out[path] = entry
    if not out:
        raise ValueError('"files" lists no file with a checksum')
    return out


def judge_core(rel, md5, checksums, label):
    """Judgement for the file at `rel` (relative to the install) whose content has `md5`.

    `md5` may be a function returning the digest, so a file no list mentions costs no hashing.
    Files under wp-content/ (bundled themes, Akismet) are updated on their own schedule: they
    can be known good but never 'modified'.
    """
    expected = checksums.get(rel)
    if expected is not None:
        digest = md5() if callable(md5) else md5
        if digest is None:                 # no md5 here (FIPS mode): cannot compare
            return None
        if digest in expected:
            return Judgement(GOOD, 'known good: %s' % label)
        if rel.startswith('wp-content/'):
            return None
        return Judgement(MODIFIED, 'differs from the published checksum of %s' % label)
    if rel.startswith(_CORE_DIRS) and rel.lower().endswith('.php'):
        return Judgement(UNEXPECTED, 'not a file of %s' % label)
    return None


def judge_plugin(rel, digests, checksums, label):
    """Judgement for `rel` (relative to the plugin's dir); `digests()` gives (md5, sha256).

    sha256 is preferred when the list has it (as WP-CLI does).  A file the list does not know
    is left to the rules: plugins create caches and settings files of their own.
    """
    expected = checksums.get(rel)
    if expected is None:
        return None
    md5, sha256 = digests() if callable(digests) else digests
    if not expected['sha256'] and md5 is None:     # md5-only entry and no md5 (FIPS mode)
        return None
    good = sha256 in expected['sha256'] if expected['sha256'] else md5 in expected['md5']
    if good:
        return Judgement(GOOD, 'known good: %s' % label)
    if rel.lower() in _SOFT_PLUGIN_FILES:
        return None
    return Judgement(MODIFIED, 'differs from the published checksum of %s' % label)


def split_plugin_path(rel):
    """('slug', 'path/in/plugin') for wp-content/plugins/SLUG/PATH, else None."""
    parts = rel.split('/', 3)
    if len(parts) == 4 and parts[0] == 'wp-content' and parts[1] == 'plugins' and parts[2] \
            and parts[3]:
        return parts[2], parts[3]
    return None
