"""One PHP buffer (the file, or a decoded payload) and what every PHP rule family needs about it:
the calls found by triage, the request sources and their taint, statement contexts, scopes.

The rule families are mixins (php_sinks, php_forms, php_decoders, php_names, php_droppers,
php_wrappers); `run` decides which of them a buffer deserves.
"""
import bisect
import collections
import itertools
import re

from newfilewatch.detect import weights
from newfilewatch.detect.calls import (
    CALLBACKS, CODE_SINKS, DECODERS, OS_SINKS, SQL_LOGINS, SQL_QUERIES, WRITES, _DANGEROUS_BYTES,
    _WORD)
from newfilewatch.detect.phptext import (
    _DYN_CALL, _FRAMEWORK_INPUT, _REQ_SUPER, _STRINGS_ANY, _TOKEN, _args, _function_spans,
    _include_calls, _picks_literal, _split_pieces, _static_string)
from newfilewatch.detect.triage import _CALL_RE, _DYNCALL_REV, _DYN_REV, _PROP_CALL_REV
from newfilewatch.detect.php_sinks import RequestSinks
from newfilewatch.detect.php_forms import FormPages
from newfilewatch.detect.php_decoders import HiddenCode
from newfilewatch.detect.php_names import BuiltNames
from newfilewatch.detect.php_droppers import Droppers
from newfilewatch.detect.php_wrappers import WrappedSinks


_SOURCE_AT = re.compile(
    rb'\$_(GET|POST|REQUEST|COOKIE|FILES)\b'
    rb'|\$_SERVER\s*\[\s*[\'"]?(HTTP_[A-Z0-9_]+|QUERY_STRING|PHP_AUTH_\w+)'
    rb'|\$_SERVER\s*\[\s*(\$\w+)\s*\]'       # a key chosen at run time: a header, maybe
    rb'|\$_(ENV)\b(?=\s*\[)')
_HTTP_VARS = re.compile(rb'\$HTTP_(GET_VARS|POST_VARS|COOKIE_VARS|RAW_POST_DATA|POST_FILES)\b')
_GLOBALS_SRC = re.compile(rb'\$GLOBALS\s*\[\s*[\'"](_GET|_POST|_REQUEST|_COOKIE|_FILES)[\'"]\s*\]')
_PHP_INPUT = re.compile(rb'php://input', re.I)
_ASSIGN_HEAD = re.compile(rb'\s*(?:@\s*)?\$([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[[^\]\n]{0,80}\]\s*)*'
                          rb'(?:\.|\?\?|\+)?=(?![=>])')
_COND_ASSIGN = re.compile(rb'\s*\(?\s*@?\s*\$([A-Za-z_]\w*)\s*=(?![=>])\s*@?\s*')
_HEAD_KEYWORD = re.compile(rb'\s*@?\s*(include_once|require_once|include|require|foreach|'
                           rb'echo|print|return)\b', re.I)
_FUNC_HEAD = re.compile(rb'function\s+&?\s*(\w+)\s*\(([^)]{0,400})\)', re.I)
_CAST_BEFORE = re.compile(rb'\(\s*(?:int|integer|float|double|string|bool|boolean|array|object)\s*\)\s*$', re.I)


class _Ctx(object):
    """What surrounds a position in PHP code: the enclosing calls and the statement's head."""
    __slots__ = ('frames', 'in_backticks', 'head', 'stmt_start', 'in_string')

    def __init__(self, frames, in_backticks, head, stmt_start, in_string):
        self.frames, self.in_backticks, self.head = frames, in_backticks, head
        self.stmt_start, self.in_string = stmt_start, in_string


# '(' of a call of a run-time name, on the reversed buffer: after a variable, ']', ')', '}'.
_DYN_PAREN_REV = re.compile(rb'\(\s*(?:[\])}]|[a-z0-9_]+\$)')


# Text just before a $var that gives it a value: foreach (.. as $k => $v), by-reference,
# global/static declarations, function parameters, list(), catch (E $e).
_BINDS_BEFORE = re.compile(
    rb'(?:\bas\s*(?:&\s*)?|=>\s*(?:&\s*)?|&\s*|\bglobal\s[^;]{0,200}|\bstatic\s+|'
    rb'\bfunction\b[^{;]{0,250}|\bfn\s*\([^)]{0,200}|\blist\s*\([^)]{0,200}|\[[^\]=;]{0,200}|'
    rb'\bcatch\s*\([^)]{0,100}|\buse\s*\([^)]{0,200})$', re.I)
# A PHP function definition (JavaScript ones in the page take no $parameters): taint does
# not cross one (roughly: a function's locals are not the top-level code's).
_PHP_FUNCTION = re.compile(rb'function(?<![\w$>:]function)\s*&?\s*\w*\s*\(\s*(?:\)\s*(?::\s*\??[\w\\]+\s*)?\{|[\w\\?|]*\s*&?\s*(?:\.\.\.)?\$)')
_LEADING_COMMENTS = re.compile(rb'(?:\s+|//[^\n]*|\#(?!\[)[^\n]*|/\*.*?\*/)*', re.S)
_COND_HEAD = re.compile(rb'\s*(?:else\s*)?(?:if|elseif|while)\s*\(', re.I)


class _Php(RequestSinks, FormPages, HiddenCode, BuiltNames, Droppers, WrappedSinks):
    """The PHP rules over one buffer (the file, or a decoded payload when `origin` is set)."""

    def __init__(self, scan, data, origin, depth, rev=None):
        self.scan, self.data, self.origin, self.depth = scan, data, origin, depth
        self.rev = rev
        self.calls = collections.defaultdict(list)   # name -> [(name_start, paren_pos)]
        self.taint = collections.OrderedDict()        # var -> description of where it came from
        self.done_sites = set()
        self.reported = set()
        self.extracted = False                        # extract($_POST) & co. seen
        self.request_writes = []                      # (callee, pos): writes to client paths
        self.sink_parens = []
        self._dynamic = None
        self._assigned = {}
        self._spans = None
        self._fdefs = None
        self._low = None
        self._dyn_matches = None
        self._region_live = {}
        self._sink_close = {}
        self._dyn_parens = None
        self._prop_calls = None

    def hit(self, rule, pos, text=None, variant=None, key=None):
        k = (rule, key if key is not None else pos)
        if k in self.reported:
            return
        self.reported.add(k)
        self.scan.hit(rule, self.data, pos, self.origin, text, variant)

    def run(self):
        data = self.data
        self.find_calls()
        self.sources()
        self.sink_calls()
        self.hidden_names()
        if self.calls.keys() & DECODERS:
            self.decoded()
        self.sockets_and_droppers()
        if self.depth == 0 and b'function' in data and self.calls.keys() & (
                OS_SINKS | CODE_SINKS | {'file_put_contents', 'fopen'}):
            self.wrapped_sinks()
        if self.depth == 0 and (self.calls.keys() & (OS_SINKS | CODE_SINKS) or b'`' in data) and (
                b'function' in data or b'fn' in data):
            self.closure_sinks()
        if self.depth == 0 and b'unserialize' in self.low and b'function __' in self.low:
            self.gadgets()
        if len(data) <= 65536 or (len(data) <= 1 << 20 and (
                b'strrev' in data or _split_pieces(data))):
            self.computed()
        if self.depth == 0 and (self.calls.keys() & CODE_SINKS or (
                b'data:' in data or b'tream_wrapper_register' in data or b'tempnam' in data or
                b'tmpfile' in data) and (b'nclude' in data or b'equire' in data)):
            self.hidden_payloads()
        if self.depth < 4 and b'\\' in data and ('eval' in self.calls or 'assert' in self.calls):
            self.escaped_code()
        if self.depth < 4:
            self.hex_code()
        if (b'unction' in data or b'UNCTION' in data) and (
                self.calls.keys() & (DECODERS | {'chr'}) or b'hexdec' in data or b'ord(' in data) and (
                self.calls.keys() & CODE_SINKS or _include_calls(data, 1) or
                len(data) <= 16384 and self.dynamic_calls):
            self.custom_decoders()             # needs a function the file defines itself
        if self.depth == 0 and (b'<form' in data or b'<FORM' in data or b'<input' in data or
                                b'<INPUT' in data or b'<Form' in data):
            self.form_pages()

    def sub_code(self, code, start, why):
        """Analyse `code` (text that this buffer evaluates) as PHP, its hits pointing at start."""
        before = len(self.scan.hits)
        origin = start if self.origin is None else self.origin
        _Php(self.scan, code, origin, self.depth + 1).run()
        if any(h.weight >= weights.DECODED_CODE_EVIDENCE for h in self.scan.hits[before:]):
            self.hit('php.obfuscation.decoded_code', start, key='decoded', text=why)

    # Calls ---------------------------------------------------------------------------------
    def find_calls(self):
        data = self.data
        n = len(data)
        rev = self.rev_low
        for m in _CALL_RE.finditer(rev):
            name = m.group(1)[::-1].decode('ascii')
            paren = n - 1 - m.start()
            start = n - m.end(1)
            before = data[max(0, start - 12):start].lower()
            if before.rstrip().endswith(b'function') or before.endswith(b'\\') and \
                    re.search(rb'[a-z0-9_]\\$', before):
                continue                       # a definition, or Some\Namespace\exec(
            if len(self.calls[name]) < 200:
                self.calls[name].append((start, paren))

    # Context -------------------------------------------------------------------------------
    def context(self, pos):
        data = self.data
        lo = max(0, pos - 1500)
        start = lo
        for ch in (b';', b'}', b'?>', b'<?php', b'<?'):
            j = data.rfind(ch, lo, pos)
            while ch == b'}' and j > 0 and j > start and data[j - 1:j] in (b'$', b']', b"'", b'"'):
                j = data.rfind(ch, lo, j)      # '}' closing "{$x}" inside a string
            if j >= 0:
                start = max(start, j + len(ch))
        j = data.rfind(b'{', start, pos)
        while j >= 0 and data[j + 1:j + 2] == b'$':
            j = data.rfind(b'{', start, j)
        if j >= 0:
            start = j + 1
        start = _LEADING_COMMENTS.match(data, start, pos).end()
        cm = _COND_HEAD.match(data, start, pos)
        if cm:                                 # if (...) $x = ...;  else $x = ...;
            close = cm.end() - 1 + len(_args(data, cm.end() - 1)) + 1
            if close < pos:
                start = close + 1
        frames = []                            # [callee, arg_index]
        backticks = 0
        in_string = False
        for m in _TOKEN.finditer(data, start, pos):
            tok = m.group(0)
            c = tok[:1]
            if m.group(2) is not None:
                callee = m.group(2).lower().lstrip(b'\\')
                if m.group(1):
                    callee = b'->' + callee
                frames.append([callee.decode('latin-1'), 0, m.end() - 1])
            elif c == b'(':
                prev = data[max(start, m.start() - 3):m.start()].rstrip()[-1:]
                if prev == b')' and _CAST_BEFORE.search(data, max(start, m.start() - 14), m.start()):
                    prev = b''                 # (int)(...): a cast, not a call of a call
                frames.append(['$[]' if prev in (b']', b')', b'}') else '', 0, m.start()])
            elif c == b'[':
                frames.append(['[', 0, m.start()])
            elif c in (b')', b']'):
                if frames:
                    frames.pop()
            elif c == b',':
                if frames:
                    frames[-1][1] += 1
            elif c == b'`':
                backticks += 1
            elif c in (b'"', b"'") and len(tok) == 1:
                in_string = True
                break
        hm = _HEAD_KEYWORD.match(data, start)
        head = hm.group(1).lower().decode() if hm else ''
        am = _ASSIGN_HEAD.match(data, start)
        if am and am.end() <= pos:
            head = '=' + am.group(1).decode('latin-1')
        elif frames and frames[0][0] in ('if', 'elseif', 'while'):   # if ($c = getenv(..))
            cm = _COND_ASSIGN.match(data, frames[0][2] + 1, pos)
            if cm is not None and cm.end() == pos:
                head = '=' + cm.group(1).decode('latin-1')
                frames = frames[1:]
        return _Ctx(frames, backticks % 2 == 1, head, start, in_string)

    # Request input -------------------------------------------------------------------------
    def sources(self):
        data = self.data
        sites = []
        i = data.find(b'$_')
        while i >= 0 and len(sites) < 300:
            m = _SOURCE_AT.match(data, i)
            if m:
                sites.append((i, m.end(), m.group(0).decode('latin-1')))
            i = data.find(b'$_', i + 2)
        if b'$HTTP_' in data:
            sites.extend((m.start(), m.end(), m.group(0).decode()) for m in _HTTP_VARS.finditer(data))
        if b'$GLOBALS' in data:
            sites.extend((m.start(), m.end(), m.group(0).decode('latin-1'))
                         for m in _GLOBALS_SRC.finditer(data))
        if b'php://' in data or b'PHP://' in data:
            sites.extend((m.start(), m.end(), 'php://input') for m in _PHP_INPUT.finditer(data))
        for fn in ('getallheaders', 'apache_request_headers'):
            for start, paren in self.calls.get(fn, ()):
                sites.append((start, paren + 1, fn + '()'))
        if b'->' in data:                      # WP_REST_Request / Laravel Request accessors
            for m in itertools.islice(_FRAMEWORK_INPUT.finditer(data), 100):
                close = data.find(b')', m.end(), m.end() + 200)
                sites.append((m.start(), close + 1 if close > 0 else m.end(),
                              m.group(1).decode('latin-1') + '()'))
        for start, paren in self.calls.get('getenv', ()):
            arg = data[paren + 1:paren + 40].lstrip()[1:].upper()
            if arg.startswith((b'HTTP_', b'QUERY_STRING')):
                close = data.find(b')', paren, paren + 60)
                sites.append((start, close + 1 if close > 0 else paren + 1, 'getenv(HTTP_*)'))
        if not sites:
            return
        sites.sort()
        sinks = set(CALLBACKS) | set(WRITES) | CODE_SINKS | OS_SINKS | set(SQL_QUERIES) | \
            set(SQL_LOGINS) | {'mail', 'extract', 'parse_str', 'preg_replace'}
        self.sink_parens = sorted(p for name in self.calls.keys() & sinks
                                  for _, p in self.calls[name])
        work = collections.deque((pos, end, label, None) for pos, end, label in sites)
        budget = 600
        while work and budget > 0:
            pos, end, label, via = work.popleft()
            if not self.worth_judging(pos, end):
                continue
            budget -= 1
            new_vars = self.judge(pos, end, label, via)
            for var in new_vars:
                if var in self.taint or len(self.taint) >= 32:
                    continue
                self.taint[var] = label
                needle = b'$' + var.encode('latin-1')
                j = data.find(needle)
                count = 0
                while j >= 0 and count < 60:
                    k = j + len(needle)
                    if data[k:k + 1] and data[k] in _WORD or \
                            self.function_between(j, pos):
                        j = data.find(needle, k)
                        continue
                    count += 1
                    work.append((j, k, '$%s (from %s)' % (var, label), var))
                    j = data.find(needle, k)

    def function_between(self, a, b):
        """Is a PHP function definition between offsets a and b (either order)?"""
        if self._fdefs is None:
            data = self.data
            self._fdefs = []
            i = data.find(b'function')
            while i >= 0 and len(self._fdefs) < 5000:
                if _PHP_FUNCTION.match(data, i):
                    self._fdefs.append(i)
                i = data.find(b'function', i + 8)
        lo, hi = min(a, b), max(a, b)
        i = bisect.bisect_right(self._fdefs, lo)
        return i < len(self._fdefs) and self._fdefs[i] < hi

    def scope_of(self, pos):
        """Start of the PHP function whose body holds pos (-1: top level)."""
        if self._spans is None:
            self._spans = _function_spans(self.data)
            self._span_starts = [s for s, _ in self._spans]
        i = bisect.bisect_right(self._span_starts, pos) - 1
        while i >= 0:
            s, e = self._spans[i]
            if e > pos:
                return s
            i -= 1
        return -1

    @property
    def low(self):
        """The buffer lower-cased (lazy, once): what the _L patterns scan."""
        if self._low is None:
            self._low = self.data.lower()
        return self._low

    @property
    def rev_low(self):
        """The buffer reversed and lower-cased (lazy; the triage made it for the file)."""
        if self.rev is None:
            self.rev = self.data[::-1].lower()
        return self.rev

    def dyn_call_matches(self):
        """_DYN_CALL matches in file order.  Found on the reversed buffer, where each
        candidate opens at a '(' (a forward scan stops at every '$' and reads the name
        after it), then confirmed forward at the '$'."""
        if self._dyn_matches is None:
            data, n = self.data, len(self.data)
            out = []
            for r in _DYN_REV.finditer(self.rev_low):
                m = _DYN_CALL.match(data, n - r.end())
                if m is not None:
                    out.append(m)
            out.reverse()
            self._dyn_matches = out
        return self._dyn_matches

    @property
    def property_calls(self):
        """Does the buffer call a callable held in a property (($o->p)(..), ->__invoke)?"""
        if self._prop_calls is None:
            self._prop_calls = b'->' in self.data and \
                _PROP_CALL_REV.search(self.rev_low) is not None
        return self._prop_calls

    @property
    def dynamic_calls(self):
        """Does the buffer call functions chosen at run time ($f(..), $a[0](..))? (lazy)"""
        if self._dynamic is None:
            self._dynamic = _DYNCALL_REV.search(self.rev_low) is not None
        return self._dynamic

    def in_dynamic_call(self, pos):
        """Is pos inside the arguments of a call whose '(' follows a variable, ']', ')' or
        '}' (a function chosen at run time), opened less than 1500 bytes before?"""
        if self._dyn_parens is None:
            rev, n = self.rev_low, len(self.data)
            self._dyn_parens = sorted(n - 1 - m.start() for m, _ in
                                      zip(_DYN_PAREN_REV.finditer(rev), range(5000)))
        parens = self._dyn_parens
        i = bisect.bisect_left(parens, pos - 1500)
        while i < len(parens) and parens[i] < pos:
            if self.sink_close(parens[i]) > pos:
                return True
            i += 1
        return False

    def region(self, pos):
        """(lo, hi): the stretch around pos with no PHP function definition inside, the
        furthest a tainted variable is followed (see function_between)."""
        self.function_between(pos, pos)        # builds self._fdefs
        i = bisect.bisect_left(self._fdefs, pos)
        lo = self._fdefs[i - 1] if i > 0 else 0
        hi = self._fdefs[i] if i < len(self._fdefs) else len(self.data)
        return lo, hi

    def paren_before(self, pos):
        """Offset of the '(' of the innermost call enclosing pos (approximate, bounded)."""
        best = -1
        for name in WRITES:
            for start, paren in self.calls.get(name, ()):
                if best < paren < pos:
                    best = paren
        return best if best >= 0 else pos

    def variable_function(self, var, pos):
        """$f(<request input>): note it, and look for a dangerous name hidden in $f."""
        self.hit('php.call.variable_function_input', pos, key='varfunc')
        for rhs_pos, rhs in self.assignments(var):
            spelled = _static_string(rhs)
            if spelled and spelled.strip().lower() in _DANGEROUS_BYTES:
                self.hit('php.obfuscation.hidden_function', rhs_pos,
                         text='%s = %s' % (var, spelled.decode('latin-1')))
                self.hit('php.call.request_function', pos)
                return

    def assignments(self, var, limit=8):
        """[(pos, rhs bytes)] for `$var = ...;` statements."""
        data = self.data
        needle = b'$' + var.encode('latin-1')
        out = []
        j = data.find(needle)
        while j >= 0 and len(out) < limit:
            m = _ASSIGN_HEAD.match(data, j)
            if m and m.group(1) == needle[1:]:
                stop = data.find(b';', m.end(), m.end() + 4000)
                out.append((j, data[m.end():stop if stop > 0 else m.end() + 400]))
            j = data.find(needle, j + len(needle))
        return out

    def assigned(self, var):
        """Does the file ever give $var a value (assignment, parameter, foreach, global...)?"""
        if var in self._assigned:
            return self._assigned[var]
        data = self.data
        needle = b'$' + var.encode('latin-1')
        j = data.find(needle)
        found = False
        n = 0
        while j >= 0 and n < 400 and not found:
            n += 1
            k = j + len(needle)
            if not (data[k:k + 1] and data[k] in _WORD):
                m = _ASSIGN_HEAD.match(data, j)
                if (m and m.group(1) == needle[1:]) or _BINDS_BEFORE.search(data[max(0, j - 300):j]):
                    found = True
            j = data.find(needle, k)
        self._assigned[var] = found
        return found

    def function_above(self, pos):
        """The match of the nearest `function name(params)` header above pos, a few KB at
        most: wrappers are short (exact scopes would tokenise the whole file)."""
        data = self.data
        lo, hi = max(0, pos - 4000), pos
        for _ in range(16):
            hi = data.rfind(b'function', lo, hi)
            if hi < 0:
                return None
            m = _FUNC_HEAD.match(data, hi)
            if m is not None:
                return m
        return None

    def request_value(self, arg):
        """Is `arg` request input, or a variable assigned from it (one step back)?  A
        superglobal named inside a string literal is code text, not input."""
        if _REQ_SUPER.search(_STRINGS_ANY.sub(b"''", arg)):
            return True
        m = re.match(rb'\s*\$(\w+)\s*$', arg)
        return m is not None and any(_REQ_SUPER.search(_STRINGS_ANY.sub(b"''", rhs)) and
                                     not _picks_literal(rhs, len(rhs))
                                     for _, rhs in self.assignments(m.group(1).decode('latin-1'), limit=4))
