"""Optional YARA rules from the admin, merged into the engine's score as 'yara.<RuleName>' hits.

yara-python is an optional dependency: without it (or without rule files) the engine works
unchanged and says once, through the logger it was given, that YARA is off.
"""
import glob
import logging

try:
    import yara                           # yara-python
except ImportError:                       # optional: the engine runs without it
    yara = None


def expand(patterns):
    """The rule files the globs in `patterns` name, sorted, each once."""
    seen, out = set(), []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)) or ([] if glob.has_magic(pattern) else [pattern]):
            if path not in seen:
                seen.add(path)
                out.append(path)
    return out


class YaraRules(object):
    """Compiled admin rules, or an inert stand-in when YARA is unavailable or not configured."""

    def __init__(self, patterns, default_weight, logger=None):
        self.log = logger or logging.getLogger('newfilewatch.engine')
        self.default_weight = default_weight
        self.rules = None
        self.names = ()
        files = expand(patterns)
        if not patterns:
            return
        if yara is None:
            self.log.warning('yara_rules is set but yara-python is not installed: YARA rules are off')
            return
        if not files:
            self.log.warning('yara_rules %s match no files: YARA rules are off', ', '.join(patterns))
            return
        try:
            self.rules = yara.compile(filepaths={'r%d' % i: p for i, p in enumerate(files)})
        except yara.Error as exc:          # a broken rule file is a config error, said plainly
            raise ValueError('cannot compile YARA rules (%s): %s' % (', '.join(files), exc))
        self.names = tuple(sorted({r.identifier for r in self.rules}))

    def match(self, data, timeout=5):
        """[(rule_name, weight, excerpt bytes, offset)] for the rules that match `data`."""
        if self.rules is None:
            return []
        try:
            matches = self.rules.match(data=data, timeout=timeout)
        except yara.Error as exc:          # timeouts and scan errors never break a scan
            self.log.warning('YARA scan failed: %s', exc)
            return []
        out = []
        for m in matches:
            weight = m.meta.get('weight', self.default_weight)
            try:
                weight = int(weight)
            except (TypeError, ValueError):
                weight = self.default_weight
            offset, excerpt = 0, b''
            for s in getattr(m, 'strings', ())[:1]:
                offset, excerpt = _first_string(s)
            out.append((m.rule, weight, excerpt, offset))
        return out


def _first_string(s):
    """(offset, matched bytes) of one string match, for yara-python < 4.3 tuples and >= 4.3 objects."""
    if isinstance(s, tuple):
        return s[0], s[2]
    instances = getattr(s, 'instances', ())
    if instances:
        return instances[0].offset, instances[0].matched_data
    return 0, b''
