"""Run ONE rule family of the byte-level engine on a sample, without the others.

The families are mixins of detect.scan._Scan and detect.php._Php; a test that goes through
Engine.analyse sees every family (and the token analysis) at once, so it cannot tell which
one found what.  These helpers build the per-file state and call one family's method."""
from newfilewatch.detect.engine import Engine
from newfilewatch.detect.php import _Php
from newfilewatch.detect.scan import _Scan

_ENGINE = Engine()


def php_family(src, method, name='x.php'):
    """{rule: [weights]} of what _Php.<method> finds in `src` (calls and sources found first,
    as _Php.run does before any family)."""
    hits = []
    php = _Php(_Scan(_ENGINE, src, name, hits), src, None, 0, src[::-1].lower())
    php.find_calls()
    php.sources()
    getattr(php, method)()
    return _by_rule(hits)


def scan_family(src, method, *args, **kw):
    """{rule: [weights]} of what _Scan.<method>(src, *args) finds."""
    hits = []
    getattr(_Scan(_ENGINE, src, kw.get('name', 'x.php'), hits), method)(src, *args)
    return _by_rule(hits)


def _by_rule(hits):
    out = {}
    for h in hits:
        out.setdefault(h.rule, []).append(h.weight)
    return {rule: sorted(ws) for rule, ws in out.items()}
