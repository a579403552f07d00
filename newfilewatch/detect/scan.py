"""One file's analysis: dispatch by file kind, the token-level analysis (detect/analysis,
behaviour, obfuscation), then the byte-level PHP rules; collects the hits.

`origin` maps hits found in decoded payloads back to the line of the literal they came from.
"""
import os
import re

from newfilewatch import escape
from newfilewatch import model
from newfilewatch.detect import analysis as token_analysis
from newfilewatch.detect import behaviour
from newfilewatch.detect import decode
from newfilewatch.detect import fold as token_fold
from newfilewatch.detect import obfuscation
from newfilewatch.detect import weights
from newfilewatch.detect.phptext import EXCERPT, _excerpt
from newfilewatch.detect.triage import _SMALL_GATE_REV, _SYMBOL_HINT, _worth_deep_look
from newfilewatch.detect.filekinds import FileKinds, _kind
from newfilewatch.detect.php_small import SmallScripts
from newfilewatch.detect.php_escapes import AccountEscapes
from newfilewatch.detect.php import _Php


MAX_TOKEN_BYTES = 2 << 20
TOKENS_ALWAYS = 4096


class _Scan(FileKinds, SmallScripts, AccountEscapes):
    """One file's analysis; collects hits.  `origin` maps hits found in decoded payloads back
    to the line of the literal they came from."""

    def __init__(self, engine, data, name, hits):
        self.engine = engine
        self.data = data
        self.name = name if isinstance(name, str) else os.fsdecode(name or b'')
        self.hits = hits
        self.budget = decode.Budget()
        self.fbudget = token_fold.Budget()
        self.token_bytes = 0

    def hit(self, rule, data, pos, origin=None, text=None, variant=None):
        spec = weights.RULES[rule]
        if origin is not None:
            line = self.line_of(self.data, origin)
            text = 'decoded: ' + (text if text is not None else _excerpt(data, pos))
        else:
            line = self.line_of(data, pos) if pos is not None else 0
            if text is None:
                text = _excerpt(data, pos) if pos is not None else ''
        self.hits.append(model.Hit(rule, line, escape.one_line(text, EXCERPT), spec.severity,
                                   weights.weight(rule, variant)))

    @staticmethod
    def line_of(data, pos):
        return data.count(b'\n', 0, pos) + 1

    def run(self):
        data = self.data
        kind, base = _kind(self.name)
        if kind == 'image':
            return self.image(data)
        if kind == 'config':
            self.config(data, base)
            if b'<?' in data:
                self.php(data, None, 0)
            return
        if kind == 'cgi' or (data[:2] == b'#!' and b'<?' not in data[:64]):
            self.cgi(data)
            if b'<?php' in data.lower()[:4096]:
                self.php(data, None, 0)
            return
        if kind in ('asp', 'jsp') or b'<%' in data:
            self.asp_jsp(data, kind)
        if b'<?' in data or (kind == 'php' and b'<script' in data.lower()):
            if kind == 'text':
                m = re.search(rb'<\?(?:php\b|=)', data, re.I)
                if m and data.lstrip(b'\xef\xbb\xbf \t\r\n')[:1] == b'<':   # a page, not prose
                    self.hit('file.php_program_in_text', data, m.start())
                    return self.php(data, None, 0, deep=True)   # rare: always read in full
                elif m:
                    self.hit('file.php_in_text', data, m.start())
            self.php(data, None, 0)

    # --- PHP ----------------------------------------------------------------------------------
    def php(self, data, origin, depth, base=0, deep=False):
        rev = data[::-1].lower()
        if depth == 0 and len(data) <= 16384:
            if _SMALL_GATE_REV.search(rev):
                self.small_script(data)
            if _SYMBOL_HINT.search(data) or (b'chr(' in data or b'CHR(' in data or
                                             b'].$' in data or b'] . $' in data or b'}.$' in data) and (
                    data.count(b'chr(') + data.count(b'CHR(') >= 6 or
                    data.count(b'].$') + data.count(b'] . $') + data.count(b'}.$') >= 6):
                self.symbol_code(data)
        if depth == 0:
            worth = deep or _worth_deep_look(data, rev)
            if worth or len(data) <= 8192:      # tools are small or call something telling
                self.escapes(data, rev)
            # the token analysis costs ~10x the triage: it reads what the triage keeps, and
            # small files whole (shells are small; obfuscated ones hide what the triage sees)
            if worth or len(data) <= TOKENS_ALWAYS or token_analysis.hides_code(data):
                self.tokens(data, origin, depth, base)
            if not worth:
                return
        elif depth <= 4:
            self.tokens(data, origin, depth, base)
        _Php(self, data, origin, depth, rev).run()

    def tokens(self, data, origin, depth, base=0):
        """The token-level analysis (detect/): folding, taint, obfuscation; decoded code it
        finds is analysed again as PHP, its hits pointing at the literal it came from."""
        if len(data) > MAX_TOKEN_BYTES or self.token_bytes > 4 * MAX_TOKEN_BYTES:
            return
        self.token_bytes += len(data)
        an = token_analysis.Analysis(data, self.fbudget).run()
        for rule, pos, text in an.findings:
            self.hit(rule, data, pos + base, origin, text)
        for rule, pos, text in behaviour.run(an):
            self.hit(rule, data, pos + base, origin, text)
        obf = obfuscation.measure(an)
        for rule, pos, text in obf:
            self.hit(rule, data, (pos or 0) + base, origin, text)
        if obf and an.capability:
            self.hit('php.obfuscation.with_capability', data, (obf[0][1] or 0) + base, origin,
                     ', '.join(r.rsplit('.', 1)[1] for r, _p, _t in obf))
        for pos, code, _decoded in an.payloads[:16]:
            if not code.lstrip()[:2] == b'<?':
                code = b'<?php ' + code
            self.php(code, pos + base if origin is None else origin, depth + 1)
