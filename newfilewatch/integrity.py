"""Known good, modified or unexpected: a scanned file checked against WordPress.org's lists.

The scanner calls `Integrity.check(path, data)` with the bytes it already read; this module
finds the WordPress install the file belongs to (the nearest directory above it holding
wp-includes/version.php), reads the install's version (and a plugin's, from its main file's
header), asks the ChecksumStore for the list and lets wordpress.py judge.  Everything it reads
in the customer's tree is opened as the scanner opens files (no symlink followed, no blocking,
bounded).  What it learns about directories is cached for a minute: on a server with many
sites a scan asks the same questions for every file of a directory.

`live` (the daemon) differs from a scan in one way: it only ever says "known good".  WordPress
updates copy the new files before the file that carries the new version (version.php last, a
plugin's main file wherever it falls), so a watcher that compared new files with the
checksums of the version on disk at that instant would call every updated file modified.
A file that matches is spared the analysis; anything else goes to the rules as before.  A scan
runs over a tree at rest and reports `integrity.modified` / `integrity.unexpected` too.
"""
import hashlib
import logging
import os
import stat
import time
import urllib.parse

from newfilewatch import checksums
from newfilewatch import wordpress
from newfilewatch.escape import escape_name

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0) | \
    getattr(os, 'O_NOCTTY', 0)
DIR_TTL = 60.0           # seconds a "this dir belongs to that install" answer is trusted
LIVE_MISS_TTL = 5.0      # ... a "no install here" answer in the daemon (an unzip in progress)
CACHE_MAX = 100000       # entries per cache before it is emptied
MAX_MAIN_CANDIDATES = 20  # top-level .php files read to find a plugin's main file
AGREEMENT_SAMPLE = 5     # files compared to decide that a plugin list is for this plugin
VERSION_BYTES = 65536
SAMPLE_BYTES = 4 << 20    # a plugin file read whole to compare it (the scanner reads as much)

DEFAULT_CORE_URL = 'https://api.wordpress.org/core/checksums/1.0/?version={version}&locale={locale}'
DEFAULT_PLUGIN_URL = 'https://downloads.wordpress.org/plugin-checksums/{slug}/{version}.json'


def read_small(path, limit):
    """(bytes, stat key) of a regular file, at most `limit` bytes; None when not one."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        return os.read(fd, limit), _key(st)
    except OSError:
        return None
    finally:
        os.close(fd)


def _key(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _lstat_key(path):
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return _key(st) if stat.S_ISREG(st.st_mode) else None


def md5_hex(data):
    """The md5 the lists use, or None where the system forbids md5 (EL in FIPS mode)."""
    try:
        return hashlib.md5(data).hexdigest()
    except ValueError:
        return None


def _version_and_md5(data):
    return wordpress.parse_version_php(data) + (md5_hex(data),)


def _url(template, **values):
    return template.format(**{k: urllib.parse.quote(v, safe='') for k, v in values.items()})


class Integrity(object):
    """Path + content -> wordpress.Judgement or None.  One per process (not shared over fork
    in use: each worker builds its caches as it goes)."""

    def __init__(self, store, core_url=DEFAULT_CORE_URL, plugin_url=DEFAULT_PLUGIN_URL,
                 live=False, disabled=(), logger=None, clock=time.monotonic):
        self.store = store
        self.core_url = core_url
        self.plugin_url = plugin_url
        self.live = live
        self.disabled = frozenset(disabled)
        self.log = logger or logging.getLogger('newfilewatch')
        self.clock = clock
        self._roots = {}         # dir -> (install root or None, until)
        self._versions = {}      # version file path -> (stat key, value)
        self._mains = {}         # plugin dir -> (main file path or None, until)
        self._agrees = {}        # (plugin dir, url) -> bool
        self.told = set()

    @classmethod
    def from_config(cls, integrity_cfg, scan_cfg=None, live=False, logger=None,
                    fallback_dir=None):
        """None when [integrity] enabled = no."""
        if not integrity_cfg.enabled:
            return None
        store = checksums.ChecksumStore(integrity_cfg.cache_dir, integrity_cfg.max_age,
                                        integrity_cfg.timeout, logger, fallback_dir=fallback_dir)
        disabled = getattr(scan_cfg, 'disabled_rules', ()) if scan_cfg is not None else ()
        return cls(store, integrity_cfg.core_checksums_url, integrity_cfg.plugin_checksums_url,
                   live=live, disabled=disabled, logger=logger)

    # -- the scanner's question -------------------------------------------------------------
    def check(self, path, data):
        """Judgement for the whole content `data` of the file at `path`, or None (rules)."""
        full = os.path.abspath(path)
        root = self._install_of(os.path.dirname(full))
        if root is None:
            return None
        rel = full[len(root.rstrip('/')) + 1:]
        core = self._core_list(root)
        judgement = None
        plugin = wordpress.split_plugin_path(rel)
        if plugin is not None:
            judgement = self._plugin_judgement(root, plugin[0], plugin[1], data)
        if judgement is None and core is not None:    # Akismet also ships in the core list
            judgement = wordpress.judge_core(rel, lambda: md5_hex(data),
                                             core[0], core[1])
            if judgement is not None and judgement.status != wordpress.GOOD and not core[2]:
                judgement = None
        return self._allowed(judgement)

    def _allowed(self, judgement):
        if judgement is None or judgement.status == wordpress.GOOD:
            return judgement
        if self.live or 'integrity.' + judgement.status in self.disabled:
            return None
        return judgement

    # -- where the install is ---------------------------------------------------------------
    def _install_of(self, directory):
        now = self.clock()
        chain, d, root = [], directory, None
        while True:
            known = self._roots.get(d)
            if known is not None and known[1] > now:
                root = known[0]
                break
            chain.append(d)
            if _lstat_key(os.path.join(d, 'wp-includes', 'version.php')) is not None:
                root = d
                break
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
        if len(self._roots) > CACHE_MAX:
            self._roots.clear()
        until = now + (LIVE_MISS_TTL if root is None and self.live else DIR_TTL)
        for c in chain:
            self._roots[c] = (root, until)
        return root

    def _cached_read(self, path, parse_value):
        """parse_value(bytes) of a version-carrying file, re-read only when it changed."""
        key = _lstat_key(path)
        if key is None:
            return None
        known = self._versions.get(path)
        if known is not None and known[0] == key:
            return known[1]
        got = read_small(path, VERSION_BYTES)
        if got is None:
            return None
        value = parse_value(got[0])
        if len(self._versions) > CACHE_MAX:
            self._versions.clear()
        self._versions[path] = (got[1], value)
        return value

    # -- core -------------------------------------------------------------------------------
    def _core_list(self, root):
        """(checksums, label, fits) for the install at `root`, or None.

        `fits`: version.php itself matches the list.  Distributions patch WordPress (Debian's
        and EPEL's packages differ from upstream in many files) and some hosts localise it by
        hand; there every differing file would be "modified".  Attackers hardly touch
        version.php, so when it differs the list is used for known-good files only.
        """
        version, locale, digest = self._cached_read(
            os.path.join(root, 'wp-includes', 'version.php'), _version_and_md5) or (None,) * 3
        if version is None:
            return None
        url = _url(self.core_url, version=version, locale=locale)
        value = self.store.get(url, wordpress.parse_core_checksums, wait=not self.live)
        if not value or value is checksums.MISSING:
            return None
        label = 'WordPress %s (%s)' % (version, locale)
        fits = digest in value.get('wp-includes/version.php', ())
        if not fits and root not in self.told and not self.live:
            self.told.add(root)
            self.log.info('integrity: %s/wp-includes/version.php differs from %s: taken for a '
                          'patched build, only files matching the list are skipped',
                          escape_name(root), label)
        return value, label, fits

    # -- plugins ----------------------------------------------------------------------------
    def _main_file(self, plugin_dir, slug):
        now = self.clock()
        known = self._mains.get(plugin_dir)
        if known is not None and known[1] > now and (known[0] is None or
                                                     _lstat_key(known[0]) is not None):
            return known[0]
        candidates = [os.path.join(plugin_dir, slug + '.php')]
        try:
            with os.scandir(plugin_dir) as entries:
                for entry in entries:
                    if entry.name.endswith('.php') and entry.is_file(follow_symlinks=False):
                        candidates.append(os.path.join(plugin_dir, entry.name))
                    if len(candidates) > MAX_MAIN_CANDIDATES:
                        break
        except OSError:
            pass
        main = None
        for candidate in candidates:
            if self._cached_read(candidate, wordpress.plugin_version):
                main = candidate
                break
        if len(self._mains) > CACHE_MAX:
            self._mains.clear()
        self._mains[plugin_dir] = (main, now + DIR_TTL)
        return main

    def _plugin_judgement(self, root, slug, inner, data):
        if not wordpress.valid_slug(slug):
            return None
        plugin_dir = os.path.join(root, 'wp-content', 'plugins', slug)
        main = self._main_file(plugin_dir, slug)
        version = self._cached_read(main, wordpress.plugin_version) if main else None
        if not version:
            return None
        url = _url(self.plugin_url, slug=slug, version=version)
        value = self.store.get(url, wordpress.parse_plugin_checksums, wait=not self.live)
        if not value or value is checksums.MISSING:
            return None
        label = 'plugin %s %s' % (slug, version)
        judgement = wordpress.judge_plugin(
            inner, lambda: (md5_hex(data), hashlib.sha256(data).hexdigest()),
            value, label)
        if judgement is not None and judgement.status != wordpress.GOOD and \
                not self._list_fits(plugin_dir, url, value, label):
            return None
        return judgement

    def _list_fits(self, plugin_dir, url, value, label):
        """Whether a plugin list is for THIS plugin: a premium or home-made plugin may share a
        slug with a WordPress.org one, and then every file would differ.  The list fits when
        one of a few of its files on disk matches."""
        key = (plugin_dir, url)
        fits = self._agrees.get(key)
        if fits is None:
            fits = False
            for inner in sorted(value, key=lambda p: (p.count('/'), p))[:AGREEMENT_SAMPLE * 4]:
                got = read_small(os.path.join(plugin_dir, inner), SAMPLE_BYTES)
                if got is None:
                    continue
                body = got[0]
                j = wordpress.judge_plugin(inner, (md5_hex(body),
                                                   hashlib.sha256(body).hexdigest()), value, label)
                if j is not None and j.status == wordpress.GOOD:
                    fits = True
                    break
            if len(self._agrees) > CACHE_MAX:
                self._agrees.clear()
            self._agrees[key] = fits
            if not fits and key not in self.told:
                self.told.add(key)
                self.log.info('integrity: no file of %s matches the list of %s: taken for '
                              'another plugin with the same name', escape_name(plugin_dir), label)
        return fits
