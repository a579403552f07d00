"""Which paths are worth a look: include / exclude / allow patterns, pure string matching.

Patterns are shell globs (fnmatch).  A pattern without '/' matches the file's base name
('*.php', '.htaccess'); one with '/' matches the whole path ('*/wp-content/cache/*').  Include
patterns match case-insensitively because Apache's AddHandler does (`shell.PHP` runs as PHP).
A directory is pruned when an exclude pattern matches its path with a trailing '/', so
'*/wp-content/cache/*' prunes the cache dir itself and nothing below it is ever watched.
"""
import fnmatch
import os
import re


_GLOB = frozenset('*?[')


def _plain(text):
    return not (_GLOB & set(text))


class _Globs(object):
    """A set of globs compiled to C-speed string tests where their shape allows, a regex otherwise.

    Checked once per directory and once per event, so it is on the hot path: a regex from
    fnmatch.translate costs ~10 us a check on Python 3.11, while '*.php' is just an endswith and
    '*/wp-content/cache/*' just a substring test (fnmatch's '*' also matches '/').  The meaning
    is exactly fnmatch's; only the way of testing differs.
    """

    def __init__(self, patterns, fold=False):
        self.fold = fold
        self.exact, self.prefix, self.suffix, self.contains, rest = set(), [], [], [], []
        for pattern in patterns:
            p = pattern.lower() if fold else pattern
            if _plain(p):
                self.exact.add(p)
            elif p.startswith('*') and p.endswith('*') and _plain(p.strip('*')):
                self.contains.append(p.strip('*'))
            elif p.startswith('*') and _plain(p.lstrip('*')):
                self.suffix.append(p.lstrip('*'))
            elif p.endswith('*') and _plain(p.rstrip('*')):
                self.prefix.append(p.rstrip('*'))
            else:
                rest.append(p)
        self.prefix, self.suffix = tuple(self.prefix), tuple(self.suffix)
        self.regex = re.compile('|'.join(fnmatch.translate(p) for p in rest)) if rest else None
        self.empty = not (self.exact or self.prefix or self.suffix or self.contains or rest)

    def __call__(self, text):
        if self.fold:
            text = text.lower()
        if text in self.exact or (self.suffix and text.endswith(self.suffix)) or \
                (self.prefix and text.startswith(self.prefix)):
            return True
        for part in self.contains:
            if part in text:
                return True
        return self.regex is not None and self.regex.match(text) is not None


def _compile(patterns, fold=False):
    """(names, paths): globs without '/' test the base name, globs with '/' the whole path."""
    return (_Globs([p for p in patterns if '/' not in p], fold),
            _Globs([p for p in patterns if '/' in p], fold))


def _matches(compiled, path):
    names, paths = compiled
    if not paths.empty and paths(path):
        return True
    return not names.empty and names(path[path.rfind('/') + 1:])


class PathRules(object):
    """The include/exclude/allow decision for one path; knows nothing of the filesystem."""

    def __init__(self, include=('*',), exclude=(), allow=()):
        self.include, self.exclude, self.allow = tuple(include), tuple(exclude), tuple(allow)
        self._include = _compile(self.include, fold=True)
        self._exclude = _compile(self.exclude)
        self._allow = _compile(self.allow)

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.watch.include, cfg.watch.exclude, cfg.scan.allow_paths)

    def prunes_dir(self, path):
        """True when nothing below the directory `path` is to be watched or scanned."""
        return _matches(self._exclude, path.rstrip('/') + '/')

    def wants_file(self, path):
        """True when a file at `path` is to be scanned (included, not excluded)."""
        return _matches(self._include, path) and not _matches(self._exclude, path)

    def may_want_name(self, name):
        """False when no include pattern can match a file named `name`, whatever its directory.

        Lets a watcher that learns the name before the directory (fanotify) drop an event
        without finding out where it happened.
        """
        names, paths = self._include
        return not paths.empty or (not names.empty and names(name))

    def is_allowed(self, path):
        """True when the admin allowlisted this path: logged as new, never alerted."""
        return _matches(self._allow, path)

    def __eq__(self, other):
        return isinstance(other, PathRules) and \
            (self.include, self.exclude, self.allow) == (other.include, other.exclude, other.allow)

    def __ne__(self, other):
        return not self == other


def under(path, root):
    """True when `path` is `root` or below it (string test, no filesystem access)."""
    root = root.rstrip('/') or '/'
    return path == root or path.startswith(root if root == '/' else root + '/')


def normalise_root(path):
    return os.path.normpath(path) if path else path
