"""Which paths are worth a look: include / exclude / allow patterns, pure string matching.

Patterns are shell globs.  A pattern without '/' matches the file's base name ('*.php',
'.htaccess'); one with '/' matches the whole path ('*/wp-content/cache/*').  Include patterns
match case-insensitively because Apache's AddHandler does (`shell.PHP` runs as PHP).
A directory is pruned when an exclude pattern matches its path with a trailing '/', so
'*/wp-content/cache/*' prunes the cache dir itself and nothing below it is ever watched.
All patterns of one kind are compiled into one regex, so a check is one C-level match.
"""
import fnmatch
import os
import re


def _compile(patterns, flags=0):
    names = [fnmatch.translate(p) for p in patterns if '/' not in p]
    paths = [fnmatch.translate(p) for p in patterns if '/' in p]
    name_re = re.compile('|'.join(names), flags) if names else None
    path_re = re.compile('|'.join(paths), flags) if paths else None
    return name_re, path_re


def _matches(compiled, path):
    name_re, path_re = compiled
    if path_re is not None and path_re.match(path):
        return True
    return name_re is not None and name_re.match(path.rpartition('/')[2]) is not None


class PathRules(object):
    """The include/exclude/allow decision for one path; knows nothing of the filesystem."""

    def __init__(self, include=('*',), exclude=(), allow=()):
        self.include, self.exclude, self.allow = tuple(include), tuple(exclude), tuple(allow)
        self._include = _compile(self.include, re.IGNORECASE)
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
