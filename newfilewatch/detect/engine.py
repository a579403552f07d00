"""Decide whether a file's bytes look like a webshell, and say why (rule, line, excerpt).

Pure core: bytes and a name in, a Verdict out; no I/O except the optional YARA library.
This module holds the entry point, the scoring (weights and caps come from detect.weights)
and the per-file CPU budget; the rules live in one module per family (see scan.py and php.py).

Speed comes from touching most bytes only with C-speed scans (see triage.py): one regex over
the reversed, lower-cased file finds every call of interest, `bytes.find` loops locate request
input, and everything else (context of a call, its arguments, taint of variables, decoding)
runs only around those few positions.  Rules follow behaviour: where request input ENDS UP,
what decoded literals contain, what sockets are handed to, which handlers an .htaccess installs.
"""
import collections
import logging
import re
import signal
import threading

from newfilewatch import escape
from newfilewatch import model
from newfilewatch import yarascan
from newfilewatch.detect import analysis as token_analysis
from newfilewatch.detect import weights
from newfilewatch.detect.phptext import EXCERPT
from newfilewatch.detect.scan import _Scan


Verdict = collections.namedtuple('Verdict', 'score suspicious hits')

MAX_HITS_PER_RULE = 5
MAX_HITS = 40


class Engine(object):
    """Scores bytes against the rule set; one instance is shared by every scan."""

    def __init__(self, keywords=(), threshold=10, disabled_rules=(), yara_rules=(), logger=None,
                 max_cpu=2.0):
        self.log = logger or logging.getLogger('newfilewatch.engine')
        self.max_cpu = float(max_cpu) if max_cpu else 0.0
        self.threshold = int(threshold)
        kws = [k.strip().lower() for k in keywords if k and k.strip()]
        self.keywords = tuple(kws)
        self._kw_re = (re.compile(('(?<![a-z0-9_])(%s)(?![a-z0-9_])'
                                   % '|'.join(re.escape(k) for k in kws)).encode('utf-8'))
                       if kws else None)
        self.yara = yarascan.YaraRules(tuple(yara_rules), max(self.threshold, 1), self.log)
        names = set(self.rule_names())
        unknown = sorted(set(disabled_rules) - names)
        if unknown:
            raise ValueError('unknown rule name(s) in disabled_rules: %s' % ', '.join(unknown))
        self.disabled = frozenset(disabled_rules)

    @classmethod
    def from_config(cls, scan_cfg, logger=None):
        return cls(keywords=scan_cfg.keywords, threshold=scan_cfg.threshold,
                   disabled_rules=scan_cfg.disabled_rules,
                   yara_rules=getattr(scan_cfg, 'yara_rules', ()), logger=logger,
                   max_cpu=getattr(scan_cfg, 'max_cpu', 2.0))

    def rule_names(self):
        return tuple(weights.RULES) + tuple(weights.YARA_PREFIX + n for n in self.yara.names)

    # --- entry point ----------------------------------------------------------------------
    def analyse(self, data, name):
        """Verdict for `data` (bytes, maybe head+tail only) of the file called `name`."""
        hits = []
        try:
            if not isinstance(data, (bytes, bytearray)):
                data = bytes(data)
            data = bytes(data)
            try:
                # linear analysis costs in proportion to the bytes: the budget grows with
                # them (max_cpu per MiB read, max_cpu at least), so a large benign file is not
                # cut short while a small crafted one still is
                with _cpu_limit(self.max_cpu * max(1.0, len(data) / float(1 << 20))):
                    _Scan(self, data, name, hits).run()
            except token_analysis.BudgetExceeded as exc:
                hits.append(model.Hit('analysis.budget', 0, escape.one_line(
                    'analysis stopped: %s; the file is reported unread past that point' % exc,
                    EXCERPT), 'high', weights.weight('analysis.budget')))
            for rule, weight, excerpt, offset in self.yara.match(data):
                hits.append(model.Hit(weights.YARA_PREFIX + rule,
                                      data.count(b'\n', 0, offset) + 1 if offset else 0,
                                      escape.one_line(excerpt, EXCERPT), 'high', weight))
        except Exception:                      # never let one hostile file stop the scanner
            self.log.exception('detection engine failed on %s', escape.escape_name(name or ''))
            hits.append(model.Hit('engine.error', 0, 'internal error (see log)', 'low',
                                  weights.weight('engine.error')))
        return self._verdict(hits)

    def _verdict(self, hits):
        if not hits:                           # most files: nothing to sort or cap
            return Verdict(0, self.threshold <= 0, ())
        per_rule = collections.OrderedDict()
        for h in sorted(hits, key=lambda h: (-h.weight, h.line)):
            if h.rule in self.disabled:
                continue
            per_rule.setdefault(h.rule, []).append(h)
        score, kept = 0, []
        for rule, rhits in per_rule.items():
            spec = weights.RULES.get(rule)
            cap = spec.cap if spec else max(h.weight for h in rhits)
            score += min(sum(h.weight for h in rhits), max(cap, rhits[0].weight))
            kept.extend(rhits[:MAX_HITS_PER_RULE])
        kept.sort(key=lambda h: (-weights.SEVERITIES.index(h.severity)
                                 if h.severity in weights.SEVERITIES else 0, h.line, h.rule))
        return Verdict(score, score >= self.threshold, tuple(kept[:MAX_HITS]))


class _cpu_limit(object):
    """Stop one file's analysis after `seconds` of CPU time.  Cooperative checks sit in the
    token analysis' loops (work counters); this timer is the backstop for everything else
    (a regex or loop no counter covers).  SIGPROF counts this process's CPU, and CPython's
    regex engine checks for signals while it matches, so even a runaway regex stops.  Only
    the main thread can take signals: elsewhere the work counters alone apply."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.armed = False
        self.old = None

    def _expired(self, signum, frame):
        raise token_analysis.BudgetExceeded('over the CPU budget of %gs ([scan] max_cpu)' % self.seconds)

    def __enter__(self):
        if self.seconds > 0 and hasattr(signal, 'setitimer') and \
                threading.current_thread() is threading.main_thread():
            try:
                self.old = signal.signal(signal.SIGPROF, self._expired)
                # re-fires every 50 ms of CPU: an expiry swallowed where Python ignores
                # exceptions (a gc callback, a __del__) is raised again at the next tick
                signal.setitimer(signal.ITIMER_PROF, self.seconds, 0.05)
                self.armed = True
            except (ValueError, OSError):
                self.armed = False
        return self

    def __exit__(self, *exc):
        if self.armed:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, self.old if self.old is not None else signal.SIG_DFL)
        return False
