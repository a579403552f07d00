"""Token-level analysis of one PHP buffer: fold what is constant, follow request data, judge.

Three general mechanisms instead of sample-shaped patterns:

* folding (fold.py) resolves names and code built at run time: a call whose callee is
  a variable, a subscript or an expression gets the name it really calls;
* flow-insensitive taint: request data ($_GET... headers, php://input) marks what it is
  assigned to, through array elements, properties, function parameters and return
  values, closures' `use`, `global`, `extract()` and `$$name`, until nothing changes.
  The order of statements in the file never matters, so goto-flattening cannot hide a flow;
* sinks: code execution, OS commands, includes, callbacks and calls by name are judged
  by what reaches them (tainted input, a name that had to be built, decoded code).

Decoded code (the folded argument of eval/assert/create_function) is handed back to the
caller to analyse as a file of its own, bounded by depth and the shared budget.
"""
import collections
import copy
import re

from newfilewatch.detect import fold
from newfilewatch.detect import lexer
from newfilewatch.detect import program as prog_mod

REQUEST_VARS = frozenset((b'_GET', b'_POST', b'_REQUEST', b'_COOKIE', b'_FILES',
                          b'HTTP_GET_VARS', b'HTTP_POST_VARS', b'HTTP_COOKIE_VARS',
                          b'HTTP_POST_FILES', b'HTTP_RAW_POST_DATA', b'_SESSION_X'))
SERVER_VARS = frozenset((b'_SERVER', b'HTTP_SERVER_VARS', b'_ENV', b'HTTP_ENV_VARS'))
# $_SERVER keys the client writes
_CLIENT_SERVER_KEY = re.compile(rb'^(HTTP_(?!HOST$)\w+|QUERY_STRING|REQUEST_URI|PATH_INFO|'
                                rb'PHP_AUTH_\w+|ORIG_PATH_INFO|REDIRECT_QUERY_STRING)$')
SOURCE_CALLS = frozenset((b'getallheaders', b'apache_request_headers', b'http_get_request_body',
                          b'filter_input', b'filter_input_array'))
# Calls whose result still carries the attacker's text.  Any other call (the application's
# own lookups: get_taxonomy($name), $db->find($id)) returns the application's value.
DIRECT_PASS = frozenset(b'''base64_decode gzinflate gzuncompress gzdecode str_rot13 strrev
urldecode rawurldecode hex2bin convert_uudecode stripslashes trim rtrim ltrim strtolower
strtoupper strval reset current end array_values array_pop array_shift json_decode
unserialize getallheaders apache_request_headers file_get_contents'''.split())
PASS_THROUGH = frozenset(b'''base64_decode gzinflate gzuncompress gzdecode str_rot13 strrev
urldecode rawurldecode hex2bin convert_uudecode stripslashes stripcslashes trim rtrim ltrim chop
strtolower strtoupper ucfirst lcfirst ucwords explode implode join str_replace str_ireplace
substr substr_replace unserialize json_decode array_values array_keys reset current end next
prev key each array_pop array_shift array_slice array_merge array_reverse array_unique
array_filter array_combine array_flip array_pad sprintf vsprintf html_entity_decode
htmlspecialchars_decode file_get_contents stream_get_contents fread fgets getallheaders
apache_request_headers str_split preg_split nl2br strval urlencode_x iconv mb_convert_encoding
strtr preg_replace str_pad chunk_split wordwrap pack openssl_decrypt mcrypt_decrypt gzdecode
func_get_args func_get_arg array_map array_walk str_repeat base64_encode_x serialize_x
var_export_x trim_x file'''.split())
INPUT_STREAMS = (b'php://input', b'php://stdin')
SANITIZERS = frozenset(b'''escapeshellarg intval floatval boolval basename htmlspecialchars
htmlentities strip_tags urlencode rawurlencode md5 sha1 crc32 hash preg_quote addslashes
is_numeric isset empty in_array array_key_exists count strlen is_array is_string filter_var
json_encode ctype_digit ctype_alnum realpath preg_match sizeof is_file file_exists is_dir abs
max min round number_format checkdate mysql_real_escape_string mysqli_real_escape_string
esc_attr esc_html esc_url esc_sql sanitize_text_field sanitize_file_name sanitize_key absint
settype gettype var_dump print_r strcmp strcasecmp hash_equals password_verify array_search
is_int is_bool is_object is_null is_callable function_exists method_exists class_exists
defined file_exists wp_verify_nonce check_admin_referer current_user_can date strtotime
time microtime uniqid rand mt_rand str_word_count substr_count strpos stripos strrpos
hash_hmac base64_encode bin2hex sprintf_int ip2long long2ip is_uploaded_file'''.split())

_NUMERIC_CASTS = frozenset((b'int', b'integer', b'float', b'double', b'real', b'bool', b'boolean',
                            b'unset'))
CODE_SINKS = frozenset((b'eval', b'assert', b'create_function'))
OS_SINKS = frozenset((b'system', b'exec', b'shell_exec', b'passthru', b'popen', b'proc_open',
                      b'pcntl_exec', b'expect_popen', b'`'))
# callback-taking function -> index of the callback argument (-1: the last one)
CALLBACKS = {b'call_user_func': 0, b'call_user_func_array': 0, b'array_map': 0,
             b'array_filter': 1, b'array_walk': 1, b'array_walk_recursive': 1, b'array_reduce': 1,
             b'usort': 1, b'uasort': 1, b'uksort': 1, b'ob_start': 0,
             b'register_shutdown_function': 0, b'register_tick_function': 0,
             b'iterator_apply': 1, b'forward_static_call': 0, b'forward_static_call_array': 0,
             b'set_error_handler': 0, b'set_exception_handler': 0, b'header_register_callback': 0,
             b'preg_replace_callback': 1, b'mb_ereg_replace_callback': 1,
             b'spl_autoload_register': 0, b'array_udiff': -1, b'array_uintersect': -1,
             b'array_diff_ukey': -1, b'array_intersect_ukey': -1, b'array_udiff_assoc': -1,
             b'array_uintersect_assoc': -1, b'array_diff_uassoc': -1, b'array_intersect_uassoc': -1}
RUNS_CODE = CODE_SINKS | OS_SINKS | frozenset(CALLBACKS) | frozenset(
    (b'preg_replace', b'include', b'require', b'include_once', b'require_once', b'mb_ereg_replace',
     b'file_put_contents', b'fwrite', b'fputs', b'move_uploaded_file', b'unlink', b'mail',
     b'fsockopen', b'curl_exec', b'file_get_contents', b'base64_decode', b'gzinflate',
     b'gzuncompress', b'str_rot13', b'unserialize', b'extract', b'parse_str', b'putenv',
     b'ini_set', b'set_time_limit', b'error_reporting', b'chmod', b'touch', b'copy', b'fopen'))
EXEC_NAMES = CODE_SINKS | OS_SINKS | frozenset(CALLBACKS) | frozenset(
    (b'preg_replace', b'mb_ereg_replace', b'file_put_contents', b'fwrite', b'fputs',
     b'move_uploaded_file', b'include', b'require', b'fsockopen', b'unserialize', b'extract'))

Finding = collections.namedtuple('Finding', 'rule pos text')
_ARRAY_JOINS = frozenset((b'array_merge', b'array_unique', b'array_values', b'array_reverse',
                          b'array_filter', b'array_slice'))
_TERNARY_STOP = (b'?', b';', b',', b')', b']', b'}', b'=>')


class BudgetExceeded(Exception):
    """One file used up its analysis budget (work units or CPU time)."""


class Analysis(object):
    """Runs once per buffer; `findings` and `payloads` are the results."""

    def __init__(self, data, fbudget=None, max_tokens=2000000):
        self.data = data
        self.fbudget = fbudget or fold.Budget()
        self.stats = lexer.Stats()
        self.toks = lexer.tokenize(data, self.stats, limit=max_tokens)
        self.truncated = len(self.toks) >= max_tokens
        self.p = prog_mod.Program(self.toks, data, self.fbudget)
        # every token the taint walk visits costs one unit: linear in the tokens by construction
        self.work = 0
        self.max_work = 60 * len(self.toks) + 200000
        self.findings = []
        self.payloads = []          # (pos, code bytes, decoded?) to analyse as code
        self._seen = set()
        self.env = {}
        self.consts = {}
        self.built_calls = 0        # calls whose callee had to be computed and was
        self.built_dangerous = []
        self.capability = False     # something that runs code/commands is reachable
        self.extracted = set()      # scopes where extract()/$$k put request data in vars
        self.tainted = set()
        self.tkeys = set()          # (scope, var, key): one literal key holds request data
        self.tbases = set()         # (scope, var) with some tainted literal key
        self.tprops = set()
        self.tfuncs = set()
        self.assigned_in = collections.defaultdict(set)
        self.computed_vars = set()
        self.decoded_vars = set()
        self._assigns_of = collections.defaultdict(list)
        self._active = set()
        self.only_sources = False   # True in a restricted() copy: only its predicate is a source
        self.call_source = None     # and calls this predicate accepts (index of the name token)
        self.pass_through = PASS_THROUGH
        self.sanitizers = SANITIZERS
        self._direct = None
        self._fetched = None        # the fetched-content taint, made on first use (behaviour.py)

    # --- helpers -------------------------------------------------------------------------
    def add(self, rule, pos, text=None):
        k = (rule, pos)
        if k in self._seen:
            return
        self._seen.add(k)
        self.findings.append(Finding(rule, pos, text))

    def folder(self, scope):
        value, assigns = self.value, self._assigns_of

        def lookup(name):
            if scope and (scope, name) not in assigns:
                return value((0, name))
            return value((scope, name))
        return fold.Folder(self.toks, self.data, self.fbudget, lookup, self.consts, self.literal_funcs,
                           self.computed_vars, self.decoded_vars)

    def fold(self, rng, scope):
        if rng is None or rng[0] >= rng[1]:
            return None, None
        f = self.folder(scope)
        v = f.fold(rng[0], rng[1])
        return v, f

    # --- the passes ----------------------------------------------------------------------
    def run(self):
        self.literal_funcs = {}
        self._constants()
        self.literal_funcs = _Inliner(self)
        self._environment()
        self._taint()
        self._sinks()
        return self

    def _constants(self):
        toks = self.toks
        for c in self.p.calls:
            if c.kind == 'name' and c.name == b'define' and len(c.args) >= 2:
                a0, a1 = c.args[0], c.args[1]
                f = fold.Folder(toks, self.data, self.fbudget, None, self.consts)
                k = f.fold(*a0)
                v = f.fold(*a1)
                if isinstance(k, bytes) and v is not None:
                    self.consts[k.lower()] = v
        n = len(toks)
        for i, t in enumerate(toks):
            if t[0] == 'I' and t[1] == b'const' and i + 2 < n and toks[i + 1][0] == 'I' and toks[i + 2][1] == b'=':
                e = self.p.expr_end(i + 3)
                v = fold.Folder(toks, self.data, self.fbudget, None, self.consts).fold(i + 3, e)
                if v is not None:
                    self.consts[toks[i + 1][1]] = v

    def _environment(self):
        """Index the assignments; values are folded lazily, on the first question about a
        variable (most files never ask about most variables).  Every assignment of the
        variable counts, wherever it stands, so a use above its assignment (goto-reordered
        code) resolves."""
        for a in self.p.assigns:
            if isinstance(a.target, bytes):
                self.assigned_in[a.scope].add(a.target)
                self._assigns_of[(a.scope, a.target)].append(a)
        for f in self.p.functions:
            self.assigned_in[f.id].update(f.params)
            self.assigned_in[f.id].update(f.uses)

    def value(self, key):
        """The folded value of variable `key` = (scope, name) after all its assignments in
        file order, or None; memoised, cycles give None."""
        memo = self.env
        if key in memo:
            return memo[key]
        if key in self._active or self.fbudget.used > self.fbudget.steps:
            return None
        self._active.add(key)
        cur = None
        try:
            for a in self._assigns_of.get(key, ()):
                if a.op == b'as' or a.key == ('list',):
                    cur = None
                    continue
                v, f = self.fold(a.rhs, a.scope)
                if f is not None and v is not None:
                    if f.computed:
                        self.computed_vars.add(a.target)
                    if f.used_decoder or f.used_bitwise:
                        self.decoded_vars.add(a.target)
                if a.key is not None:
                    base = cur if isinstance(cur, dict) else ({} if cur is None else None)
                    if base is None or v is None:
                        continue
                    base = dict(base)
                    if a.key == ('append',):
                        base[max([k for k in base if isinstance(k, int)] + [-1]) + 1] = v
                    else:
                        kv, _f = self.fold(a.key, a.scope)
                        if kv is None:
                            continue
                        if isinstance(kv, bytes) and re.match(rb'^(0|[1-9]\d{0,17})$', kv):
                            kv = int(kv)
                        base[kv if isinstance(kv, (int, bytes)) else fold.to_bytes(kv)] = v
                    cur = base if len(base) <= 100000 else None
                elif a.op == b'=':
                    cur = v
                elif a.op == b'.=' and v is None and cur is not None and self._loop_of(a) is not None:
                    v = self._unrolled(a, self._loop_of(a))     # foreach (..) { $out .= f($p); }
                    cur = None if v is None else fold.to_bytes(cur) + v
                elif a.op == b'.=' and cur is not None and v is not None:
                    try:
                        cur = fold.to_bytes(cur) + fold.to_bytes(v)
                    except fold.Unknown:
                        cur = None
                else:
                    cur = None
        finally:
            self._active.discard(key)
        memo[key] = cur
        return cur

    # --- taint ---------------------------------------------------------------------------
    def source_at(self, k, scope):
        """Is token k (a V) request data?"""
        toks = self.toks
        t = toks[k]
        name = t[1]
        if name in REQUEST_VARS:
            return True
        if name in SERVER_VARS:
            if k + 2 < len(toks) and toks[k + 1][1] == b'[':
                key = toks[k + 2]
                if key[0] == 'S':
                    return bool(_CLIENT_SERVER_KEY.match(key[1]))
                close = self.p.match[k + 1]
                if close > k + 2 and key[0] == 'I':   # $_SERVER[_f(1)]: a key the code computes
                    v, _f = self.fold((k + 2, close), scope)
                    return isinstance(v, bytes) and bool(_CLIENT_SERVER_KEY.match(v))
            return False
        if name == b'GLOBALS' and k + 2 < len(toks) and toks[k + 1][1] == b'[' and toks[k + 2][0] == 'S':
            return toks[k + 2][1] in REQUEST_VARS
        return False

    def tainted_range(self, i, j, scope):
        """Position of the first request-derived token in toks[i:j], or -1.  In `c ? a : b`
        only the branches count: the client picking WHICH of the code's values is used does
        not make the value the client's."""
        if j - i > 2:
            q = self.p.expr_end(i, stop=_TERNARY_STOP)
            if q < j and self.toks[q][1] == b'?':
                i = q + 1
        return self._tainted_scan(i, j, scope)

    def _tainted_scan(self, i, j, scope):
        toks = self.toks
        k = i
        self.work += j - i if j > i else 0
        if self.work > self.max_work:
            raise BudgetExceeded('over %d units of taint work' % self.max_work)
        tainted, tprops, tfuncs = self.tainted, self.tprops, self.tfuncs
        extracted = scope in self.extracted
        while k < j:
            t = toks[k]
            kind = t[0]
            if kind == 'V':
                name = t[1]
                if self.source_at(k, scope) or (scope, name) in tainted:
                    return t[2]
                if k + 3 < j and toks[k + 1][1] in (b'->', b'?->') and toks[k + 2][0] == 'I' and \
                        toks[k + 3][1] == b'(' and toks[k + 2][1] not in tfuncs:
                    k = self.p.close_of(k + 3) + 1      # $obj->method(..): the object's answer
                    continue
                if extracted and name not in self.assigned_in[scope] and name != b'this' and \
                        not name.startswith(b'_') and name not in (b'GLOBALS',):
                    return t[2]
                if (scope, name) in self.tbases:
                    if k + 3 < j and toks[k + 1][1] == b'[' and toks[k + 2][0] == 'S' and \
                            toks[k + 3][1] == b']':
                        if (scope, name, toks[k + 2][1]) in self.tkeys:
                            return t[2]
                        k += 4
                        continue
                    return t[2]
                if k + 1 < j and toks[k + 1][1] == b'[' and self.p.match[k + 1] > k:
                    # a request value used as a key picks the code's own value
                    k = self.p.match[k + 1] + 1
                    continue
                if k + 2 < j and toks[k + 1][1] in (b'->', b'?->') and toks[k + 2][0] == 'I' and \
                        toks[k + 2][1] in tprops and (k + 3 >= len(toks) or toks[k + 3][1] != b'('):
                    return t[2]
            elif kind == 'I':
                nxt = toks[k + 1][1] if k + 1 < len(toks) else b''
                if t[1] in (b'function', b'fn', b'new', b'class'):
                    k = self._skip_definition(k, j)
                    continue
                if nxt == b'(':
                    name = t[1]
                    if self.call_source is not None and self.call_source(k):
                        return t[2]
                    member = k > 0 and toks[k - 1][1] in (b'->', b'?->', b'::')
                    if member and name not in tfuncs or not member and name not in self.pass_through and \
                            name not in SOURCE_CALLS and name not in tfuncs and name not in (
                                b'file_get_contents', b'fopen', b'getenv', b'preg_replace',
                                b'str_replace', b'array', b'list', b'isset') and name not in self.p.by_name:
                        k = self.p.close_of(k + 1) + 1
                        continue
                    if name in self.sanitizers and (k == 0 or toks[k - 1][1] not in (b'->', b'::')):
                        k = self.p.close_of(k + 1) + 1
                        continue
                    if name in (b'preg_replace', b'str_replace') and self._whitelists(k + 1, scope):
                        k = self.p.close_of(k + 1) + 1
                        continue
                    if self.only_sources:
                        if name in tfuncs and (k == 0 or toks[k - 1][1] not in (b'->', b'::')):
                            return t[2]
                    elif name in SOURCE_CALLS or name in tfuncs and (k == 0 or toks[k - 1][1] not in (b'->', b'::')):
                        return t[2]
                    if self.only_sources:
                        pass
                    elif name in (b'file_get_contents', b'fopen', b'stream_get_contents', b'file') and \
                            k + 2 < len(toks) and toks[k + 2][0] == 'S' and toks[k + 2][1].lower() in INPUT_STREAMS:
                        return t[2]
                    if not self.only_sources and name == b'getenv' and k + 2 < len(toks) and toks[k + 2][0] == 'S' and \
                            _CLIENT_SERVER_KEY.match(toks[k + 2][1]):
                        return t[2]
                elif (k > 0 and toks[k - 1][1] in (b'->', b'?->') and t[1] in tprops):
                    return t[2]
                elif nxt == b'[' and k > 0 and toks[k - 1][1] in (b'->', b'?->', b'::') and \
                        self.p.match[k + 1] > k:
                    k = self.p.match[k + 1] + 1         # a key into the object's own table
                    continue
            elif kind == 'C' and t[1] in _NUMERIC_CASTS:
                k = self._past_operand(k + 1, j)     # (int)$x is a number, whatever $x held
                continue
            elif kind in ('T', 'B'):
                for part in t[1]:
                    if isinstance(part, tuple) and part[0] == '$' and (
                            part[1] in REQUEST_VARS and not self.only_sources or (scope, part[1]) in tainted or
                            extracted and part[1] not in self.assigned_in[scope]):
                        return t[2]
            k += 1
        return -1

    def _past_operand(self, k, j):
        """Index past the operand starting at k: a bracketed group or a variable with its
        subscripts and property accesses."""
        toks = self.toks
        if k >= j:
            return k
        if toks[k][1] == b'(':
            return self.p.close_of(k) + 1
        if toks[k][0] in ('V', 'I'):
            k += 1
            while k < j:
                v = toks[k][1]
                if v in (b'[', b'{') and self.p.match[k] > k:
                    k = self.p.match[k] + 1
                elif v in (b'->', b'::') and k + 1 < j:
                    k += 2
                elif v == b'(' and self.p.match[k] > k:
                    k = self.p.match[k] + 1
                else:
                    break
            return k
        return k + 1

    def _skip_definition(self, k, j):
        """Index past a closure / arrow function / `new X(...)` / class body starting at k:
        what they contain is judged where it runs, not where it is written."""
        toks = self.toks
        n = len(toks)
        m = k + 1
        steps = 0
        while m < j and steps < 64:
            steps += 1
            v = toks[m][1]
            if v == b'{' and toks[m][0] == 'O':
                return self.p.close_of(m) + 1
            if v == b'(' and toks[m][0] == 'O':
                c = self.p.close_of(m)
                if toks[k][1] == b'new':
                    return c + 1
                m = c + 1
                continue
            if v == b'=>' and toks[k][1] == b'fn':
                return self.p.expr_end(m + 1)
            if v in (b';', b',') and toks[m][0] == 'O':
                return m
            m += 1
        return min(m, n) if m > k else k + 1

    def direct(self):
        """Taint that passes only through assignments, decoders and plain string
        conversions: what a client can make a callback or a callee be.  A router that runs
        preg_replace() over the URI and later calls a route's own callback is not that."""
        if self._direct is None:
            other = copy.copy(self)
            other.tainted, other.tkeys, other.tbases = set(), set(), set()
            other.tprops, other.tfuncs, other.extracted = set(), set(), set()
            other.pass_through = DIRECT_PASS
            other._taint()
            self.work = other.work
            self._direct = other
        return self._direct

    def restricted(self, is_source, call_source=None, pass_through=None):
        """A copy whose taint starts only at tokens `is_source(k)` accepts (payment fields,
        passwords...), with the same folding and program: one taint engine, other sources."""
        other = copy.copy(self)
        other.tainted, other.tkeys, other.tbases = set(), set(), set()
        other.tprops, other.tfuncs, other.extracted = set(), set(), set()
        other.only_sources = True
        other.source_at = lambda k, scope: is_source(k)
        other.call_source = call_source
        if pass_through is not None:
            other.pass_through = pass_through
            other.sanitizers = SANITIZERS - pass_through
        other._taint()
        self.work = other.work
        return other

    def _whitelists(self, paren, scope):
        """preg_replace('/[^a-z0-9_-]/', '', $x): only the allowed characters survive."""
        args = self.p.split_args(paren)
        if len(args) < 3 or self.toks[args[0][0]][1] != b'preg_replace' and False:
            return False
        if len(args) < 3:
            return False
        pat, _f = self.fold(args[0], scope)
        rep, _f = self.fold(args[1], scope)
        return isinstance(pat, bytes) and rep == b'' and bool(
            re.match(rb'^(.)\[\^[^\]]*\][+*]?\1[a-zA-Z]*$', pat, re.S))

    def ends_fixed(self, rng, scope, depth=0):
        """Does the path end in a literal extension ('.php', '.html'), here or in every
        value the variable is given?  Then the request picks a file of one kind (a
        language or template switch), it cannot name a URL, an upload or a log."""
        s, e = rng
        toks = self.toks
        if e <= s or depth > 3:
            return False
        last = toks[e - 1]
        if last[0] == 'S' and b'.' in last[1][-6:]:
            return True
        if last[0] == 'T' and isinstance(last[1][-1], bytes) and b'.' in last[1][-1][-6:]:
            return True
        first = toks[s]
        if first[0] == 'I' and first[1] in _ARRAY_JOINS and s + 1 < e and toks[s + 1][1] == b'(' and \
                self.p.close_of(s + 1) == e - 1:
            return all(self.tainted_range(a0, a1, scope) < 0 or self.ends_fixed((a0, a1), scope, depth + 1)
                       for a0, a1 in self.p.split_args(s + 1))
        if e - s == 1 and last[0] == 'V':
            rhs = [a for a in self.p.assigns if a.target == last[1] and a.scope == scope]
            if not rhs:
                return False
            for a in rhs[:8]:
                if a.op != b'as' and self.tainted_range(a.rhs[0], a.rhs[1], scope) < 0:
                    continue                      # the code's own values cannot name a file
                if a.op == b'as' and a.rhs[1] - a.rhs[0] == 1 and toks[a.rhs[0]][0] == 'V':
                    ok = self.ends_fixed(a.rhs, scope, depth + 1)
                elif a.key == ('append',) or a.key is None or isinstance(a.key, tuple):
                    ok = self.ends_fixed(a.rhs, scope, depth + 1)
                else:
                    ok = False
                if not ok:
                    return False
            return True
        return False

    def include_is_fixed(self, c):
        """include DIR . $name . '.php': the request picks among files of one directory
        with one extension, which is an application's template or language switch."""
        s, e = c.args[0]
        toks = self.toks
        while s < e and toks[s][1] == b'(' and self.p.match[s] == e - 1:
            s, e = s + 1, e - 1
        if e - s == 1 and toks[s][0] == 'V':         # $file = 'lang/' . $x . '.php'; require $file
            rhs = [a.rhs for a in self.p.assigns if a.target == toks[s][1] and a.scope == c.scope]
            return bool(rhs) and all(r[1] - r[0] >= 2 and toks[r[0]][0] in ('S', 'I') and
                                     toks[r[0] + 1][1] != b'(' for r in rhs)
        if e - s < 3:
            return False
        first = toks[s]
        return first[0] in ('S', 'I') and (s + 1 >= e or toks[s + 1][1] != b'(') and \
            self.tainted_range(s, s + 1, c.scope) < 0

    def _taint(self):
        p = self.p
        toks = self.toks
        returns = []
        globals_ = []
        for k, t in enumerate(toks):
            if t[0] == 'I':
                if t[1] == b'return' and p.scope[k]:
                    returns.append((k + 1, p.expr_end(k + 1), p.scope[k]))
                elif t[1] == b'global' and p.scope[k]:
                    e = p.expr_end(k + 1, stop=(b';',))
                    globals_.extend((p.scope[k], toks[m][1]) for m in range(k + 1, e) if toks[m][0] == 'V')
        # methods cross into a function of the same name only when called on the object
        # itself ($this->m(), self::m()): a name alone says nothing about which class runs
        user_calls = [(c, p.by_name[c.name]) for c in p.calls if c.name in p.by_name and (
            c.kind == 'name' or c.kind == 'method' and c.paren >= 3 and
            toks[c.paren - 3][1] in (b'this', b'self', b'static', b'parent'))]
        # new Foo($x): the constructors of the file (which class is not tracked: any of them)
        ctors = p.by_name.get(b'__construct', [])
        user_calls += [(c, ctors + p.by_name.get(c.name.lower(), [])) for c in p.calls
                       if c.kind == 'new' and c.name and c.args and (ctors or c.name.lower() in p.by_name)]
        extracting = [c for c in p.calls if c.kind == 'name' and c.name in (
            b'extract', b'parse_str', b'import_request_variables', b'mb_parse_str') and c.args]
        for _round in range(6):
            before = (len(self.tainted), len(self.tprops), len(self.tfuncs), len(self.extracted))
            for a in p.assigns:
                if self.tainted_range(a.rhs[0], a.rhs[1], a.scope) < 0:
                    continue
                tgt = a.target
                if isinstance(tgt, bytes) and isinstance(a.key, tuple) and len(a.key) == 2 and \
                        a.key[1] == a.key[0] + 1 and toks[a.key[0]][0] == 'S':
                    self.tkeys.add((a.scope, tgt, toks[a.key[0]][1]))
                    self.tbases.add((a.scope, tgt))
                elif isinstance(tgt, bytes):
                    self.tainted.add((a.scope, tgt))
                    if tgt == b'GLOBALS':
                        pass
                elif tgt[0] == 'prop':
                    self.tprops.add(tgt[1])
                elif tgt[0] == '$$':
                    self.extracted.add(a.scope)
            for c in extracting:
                if self.tainted_range(c.args[0][0], c.args[0][1], c.scope) >= 0:
                    self.extracted.add(c.scope)
            for c, targets in user_calls:
                for f in targets:
                    for idx, (s, e) in enumerate(c.args):
                        if idx < len(f.params) and self.tainted_range(s, e, c.scope) >= 0:
                            self.tainted.add((f.id, f.params[idx]))
            for s, e, sc in returns:
                f = p.by_id.get(sc)
                if f and f.name and f.name not in self.tfuncs and self.tainted_range(s, e, sc) >= 0:
                    self.tfuncs.add(f.name)
            for f in p.functions:
                if f.uses:
                    parent = p.parent_scope(f.id)
                    for u in f.uses:
                        if (parent, u) in self.tainted:
                            self.tainted.add((f.id, u))
            for sc, name in globals_:
                if (0, name) in self.tainted:
                    self.tainted.add((sc, name))
                if 0 in self.extracted:
                    self.extracted.add(sc)
            if (len(self.tainted), len(self.tprops), len(self.tfuncs), len(self.extracted)) == before:
                break

    # --- sinks ---------------------------------------------------------------------------
    def _callee(self, c):
        """(name, built): the lower-cased function name a call reaches, and whether the
        name had to be computed (variable, subscript, expression, string)."""
        if c.kind == 'name':
            return c.name, False
        if c.kind in ('var', 'expr') and c.callee:
            s, e = c.callee
            v, f = self.fold((s, e), c.scope)
            if isinstance(v, bytes) and 0 < len(v) <= 64:
                name = v.strip().lstrip(b'\\').lower()
                if re.match(rb'^[a-z_][a-z0-9_]*$', name):
                    return name, bool(f.computed)
                return None, True
            if isinstance(v, dict) and v:       # [$obj, 'method'] / ['Class', 'm']
                return None, True
        return None, c.kind in ('var', 'expr')

    def arg_tainted(self, c, idx):
        if idx >= len(c.args):
            return -1
        s, e = c.args[idx]
        return self.tainted_range(s, e, c.scope)

    def any_arg_tainted(self, c, skip=None):
        for idx in range(len(c.args)):
            if idx == skip:
                continue
            pos = self.arg_tainted(c, idx)
            if pos >= 0:
                return pos
        return -1

    def _sinks(self):
        toks = self.toks
        for c in self.p.calls:
            if self.fbudget.used > self.fbudget.steps:
                break
            name, built = self._callee(c)
            if c.kind == 'method':
                if c.name in _METHOD_CALLBACKS and c.args:
                    self._method_callback(c)
                continue
            if c.kind == 'new':
                if c.name and c.name.lower() in (b'reflectionfunction',) and c.args:
                    self._reflection(c)
                continue
            if c.kind == 'name' and name in _DECODER_CALLS and c.args and len(self.payloads) < 16:
                self._embedded(c)
            if built and name:
                self.built_calls += 1
                if name in EXEC_NAMES or name in RUNS_CODE:
                    self.built_dangerous.append((c.pos, name))
                    if name in EXEC_NAMES:
                        self.capability = True
                        self.add('php.obfuscation.built_call', c.pos,
                                 'calls %s through a name built at run time' % name.decode('latin-1'))
            if c.kind in ('var', 'expr') and c.callee:
                pos = self.direct().tainted_range(c.callee[0], c.callee[1], c.scope)
                if pos >= 0:
                    self.capability = True
                    self.add('php.call.request_function', c.pos)
                    continue
            if name is None:
                continue
            if name in CODE_SINKS or name in prog_mod.INCLUDES:
                idx = 1 if name == b'create_function' else 0
                if idx < len(c.args) and not self._plain_path(c.args[idx]):
                    self.capability = True      # include 'lib.php' is no capability; include $x is
                pos = self.arg_tainted(c, idx)
                if name == b'create_function' and pos < 0:
                    pos = self.arg_tainted(c, 0)
                if pos >= 0 and name in prog_mod.INCLUDES and (
                        self.include_is_fixed(c) or self.ends_fixed(c.args[0], c.scope) or
                        self.direct().arg_tainted(c, idx) < 0):
                    continue
                if pos >= 0:
                    rule = 'php.include.request_input' if name in prog_mod.INCLUDES else 'php.code.request_input'
                    if name == b'assert' and self._assert_is_check(c):
                        continue
                    self.add(rule, c.pos, 'decoded: %s(...request input...)' % name.decode() if built else None)
                    continue
                if idx < len(c.args):
                    v, f = self.fold(c.args[idx], c.scope)
                    if isinstance(v, bytes) and len(v) >= 8:
                        decoded = bool(f and (f.used_decoder or f.used_bitwise)) or built
                        lit = toks[c.args[idx][0]][0] in ('S',) and c.args[idx][1] - c.args[idx][0] == 1
                        if name in prog_mod.INCLUDES:
                            low = v.lower()
                            if low.startswith(b'data:') or low.startswith(b'php://input'):
                                self.add('php.code.request_input', c.pos, 'include of %s' % low[:20].decode('latin-1'))
                            continue
                        if not lit or built:
                            self.payloads.append((c.pos, v, decoded))
                        if decoded and _looks_like_code(v):
                            self.add('php.code.decoded_input', c.pos,
                                     'decoded: ' + _show(v))
                continue
            if name in OS_SINKS:
                self.capability = True
                pos = self.any_arg_tainted(c)
                if pos >= 0:
                    self.add('php.exec.request_input', c.pos,
                             'decoded: %s(...request input...)' % name.decode() if built else None)
                continue
            if name in CALLBACKS:
                idx = CALLBACKS[name]
                idx = len(c.args) - 1 if idx < 0 else idx
                if idx >= len(c.args):
                    continue
                cb = c.args[idx]
                if toks[cb[0]][1] in (b'array', b'[') and cb[0] + 2 < cb[1] and \
                        toks[cb[0] + (2 if toks[cb[0]][1] == b'array' else 1)][0] in ('V', 'O'):
                    continue                  # [$object, $method]: a dispatcher's own methods
                if self.direct().tainted_range(cb[0], cb[1], c.scope) >= 0:
                    self.capability = True
                    self.add('php.call.request_function', c.pos)
                    continue
                v, f = self.fold(cb, c.scope)
                if isinstance(v, bytes):
                    cbname = v.strip().lstrip(b'\\').lower()
                    if cbname in CODE_SINKS or cbname in OS_SINKS or cbname in CALLBACKS:
                        self.capability = True
                        if f.computed:
                            self.add('php.obfuscation.built_call', c.pos,
                                     'hands %s to %s through a built name' % (cbname.decode('latin-1'), name.decode()))
                        if self.any_arg_tainted(c, skip=idx) >= 0:
                            rule = 'php.exec.request_input' if cbname in OS_SINKS else 'php.code.request_input'
                            self.add(rule, c.pos, 'decoded: %s(%s, ...request input...)' % (
                                name.decode(), cbname.decode('latin-1')))
                continue
            if name in (b'preg_replace', b'mb_ereg_replace', b'preg_filter') and len(c.args) >= 2:
                v, f = self.fold(c.args[0], c.scope)
                mods = _regex_modifiers(v)
                if mods is not None and b'e' in mods:
                    self.capability = True
                    if self.any_arg_tainted(c, skip=0) >= 0:
                        self.add('php.code.request_input', c.pos, 'decoded: preg_replace /e with request input')
                    else:
                        rv, rf = self.fold(c.args[1], c.scope)
                        if isinstance(rv, bytes) and rf and (rf.used_decoder or rf.used_bitwise):
                            self.payloads.append((c.pos, rv, True))

    def _loop_of(self, a):
        """The foreach whose body holds assignment `a` and whose value variable its right
        side reads, or None."""
        if len(self.p.loops) > 512:
            return None                   # bounded: unrolling is for decoders, not for apps
        for loop in self.p.loops:
            src, var, b, e, scope = loop
            if scope == a.scope and b <= a.lhs[0] < e and any(
                    self.toks[k][0] == 'V' and self.toks[k][1] == var for k in range(*a.rhs)):
                return loop
        return None

    def _unrolled(self, a, loop):
        """What `$out .= expr($v)` appends over a loop on a known array (decoding loops)."""
        src, var, b, e, scope = loop
        arr, _f = self.fold(src, scope)
        if not isinstance(arr, dict) or len(arr) > 4096:
            return None
        base = self.folder(scope)
        out = []
        for item in arr.values():
            f = fold.Folder(self.toks, self.data, self.fbudget,
                            lambda n, item=item: item if n == var else base.lookup(n),
                            self.consts, self.literal_funcs, self.computed_vars, self.decoded_vars)
            v = f.fold(a.rhs[0], a.rhs[1])
            if v is None:
                return None
            try:
                out.append(fold.to_bytes(v))
            except fold.Unknown:
                return None
            if f.used_decoder or f.used_bitwise:
                self.decoded_vars.add(a.target)
            self.computed_vars.add(a.target)
        return b''.join(out)

    def _plain_path(self, rng):
        """An argument made of literals and constants only (__DIR__ . '/lib.php')."""
        toks = self.toks
        for k in range(rng[0], rng[1]):
            t = toks[k]
            if t[0] in ('S', 'N') or t[0] == 'O' and t[1] in (b'.', b'(', b')'):
                continue
            if t[0] == 'I' and (k + 1 >= rng[1] or toks[k + 1][1] != b'('):
                continue
            if t[0] == 'I' and t[1] in (b'dirname', b'basename', b'realpath'):
                continue
            return False
        return True

    def _reflection(self, c):
        """new ReflectionFunction('system')->invoke(...): a call by name through reflection."""
        v, f = self.fold(c.args[0], c.scope)
        if not isinstance(v, bytes):
            return
        name = v.strip().lstrip(b'\\').lower()
        if name not in CODE_SINKS and name not in OS_SINKS and name not in CALLBACKS:
            return
        self.capability = True
        self.add('php.obfuscation.built_call', c.pos,
                 'reaches %s through ReflectionFunction' % name.decode('latin-1'))
        for m in self.p.calls:
            if m.kind == 'method' and m.name in (b'invoke', b'invokeargs') and m.scope == c.scope and \
                    self.any_arg_tainted(m) >= 0:
                rule = 'php.exec.request_input' if name in OS_SINKS else 'php.code.request_input'
                self.add(rule, m.pos, 'decoded: %s(...request input...) through reflection' % name.decode('latin-1'))
                break

    def _method_callback(self, c):
        """$arrayObject->uasort('assert'): SPL containers take callbacks too."""
        v, f = self.fold(c.args[0], c.scope)
        if isinstance(v, bytes) and v.strip().lower() in CODE_SINKS | OS_SINKS:
            self.capability = True
            self.add('php.callback.dangerous_name', c.pos,
                     'hands %s to ->%s() as a callback' % (v.strip().lower().decode('latin-1'), c.name.decode()))

    def _embedded(self, c):
        """A decoder call whose folded output is PHP code: a payload carried inside the
        file, analysed as code wherever it ends up (eval, a file, the screen)."""
        s, e = c.args[0]
        if e - s == 1 and self.toks[s][0] == 'S' and len(self.toks[s][1]) < 24:
            return
        v, f = self.fold((c.paren - 1, c.close + 1), c.scope)
        if isinstance(v, bytes) and len(v) >= 24 and _EMBEDDED_CODE.search(v[:65536]):
            if not any(p[1] == v for p in self.payloads):
                self.payloads.append((c.pos, v, True))

    def _assert_is_check(self, c):
        """assert($x > 0) / assert(is_int($y)): a check, not evaluated code."""
        s, e = c.args[0]
        for k in range(s, e):
            t = self.toks[k]
            if t[0] == 'O' and t[1] in (b'>', b'<', b'==', b'===', b'!=', b'!==', b'>=', b'<=', b'instanceof', b'!'):
                return True
            if t[0] == 'I' and (t[1].startswith(b'is_') or t[1] in (b'isset', b'empty', b'instanceof')):
                return True
        return False


_METHOD_CALLBACKS = frozenset((b'uasort', b'uksort', b'usort', b'array_walk', b'iterator_apply',
                               b'call', b'setcallback'))
# Cheap signs (bytes.count / `in`, no regex) that a file builds names or hides code, so the
# token analysis reads it even when the byte triage saw nothing telling.
_HIDING_NEEDLES = (b'gzinflate', b'gzuncompress', b'str_rot13', b'strrev', b'hex2bin',
                   b'goto ', b'__halt_compiler')


def hides_code(data):
    """Is it worth reading this file's tokens although the triage found nothing?"""
    low = data.lower()
    if any(n in low for n in _HIDING_NEEDLES):
        return True
    return low.count(b'\\x') >= 16 or low.count(b'chr(') >= 8 or low.count(b"'.'") + low.count(b'"."') >= 12


_DECODER_CALLS = frozenset(d.encode() for d in fold.DECODING)
class _Inliner(object):
    """Folds calls to the file's own small functions: straight-line bodies of assignments
    ending in `return expr;` (obfuscators hide their name tables and decoders in them:
    function _x($i) { $a = array('c3lz...'); return base64_decode($a[$i]); }).  Anything
    else in the body (a branch, a loop, a call with effects) leaves the call unknown."""

    MAX_DEPTH = 3

    def __init__(self, an):
        self.an = an
        self.depth = 0
        self.memo = {}

    def get(self, lname, default=None):
        fs = self.an.p.by_name.get(lname.encode('latin-1'))
        if not fs or len(fs) != 1:
            return default
        f = fs[0]
        return lambda args: self.run(f, args)

    def run(self, f, args):
        key = None
        if all(isinstance(a, (bytes, int)) for a in args):
            key = (f.id, tuple(args))
            if key in self.memo:
                if self.memo[key] is None:
                    raise fold.Unknown('inline')
                return self.memo[key]
        if self.depth >= self.MAX_DEPTH:
            raise fold.Unknown('depth')
        self.depth += 1
        try:
            v = self._run(f, args)
        except fold.Unknown:
            v = None
        finally:
            self.depth -= 1
        if key is not None and len(self.memo) < 4096:
            self.memo[key] = v
        if v is None:
            raise fold.Unknown('inline')
        return v

    def _run(self, f, args):
        an, p = self.an, self.an.p
        toks = an.toks
        local = dict(zip(f.params, args))
        for name in f.params[len(args):]:
            local.setdefault(name, fold.NULL)
        k, end = f.body_open + 1, min(f.body_close, len(toks))
        steps = 0
        while k < end:
            steps += 1
            if steps > 64:
                raise fold.Unknown('long body')
            t = toks[k]
            if t[0] == 'O' and t[1] == b';':
                k += 1
                continue
            if t[0] == 'I' and t[1] == b'return':
                e = p.expr_end(k + 1)
                return self._fold(k + 1, e, local)
            if t[0] == 'I' and t[1] in (b'global', b'static'):
                k = p.expr_end(k + 1, stop=(b';',)) + 1
                continue
            if t[0] == 'V' and k + 1 < end and toks[k + 1][1] in (b'=', b'.='):
                e = p.expr_end(k + 2)
                v = self._fold(k + 2, e, local)
                if toks[k + 1][1] == b'=':
                    local[t[1]] = v
                else:
                    local[t[1]] = fold.to_bytes(local.get(t[1], b'')) + fold.to_bytes(v)
                k = e
                continue
            raise fold.Unknown('statement')
        raise fold.Unknown('no return')

    def _fold(self, i, j, local):
        an = self.an
        f = fold.Folder(an.toks, an.data, an.fbudget, local.get, an.consts, self)
        v = f.fold(i, j)
        if v is None:
            raise fold.Unknown('body')
        return v


_EMBEDDED_CODE = re.compile(rb'<\?php|\$_(?:GET|POST|REQUEST|COOKIE|SERVER)\b|\b(?:eval|assert|system|exec|'
                            rb'passthru|shell_exec|base64_decode|gzinflate|move_uploaded_file)\s*\(')
_CODE_HINT = re.compile(rb'[;(){}$]|<\?|\b(?:eval|system|exec|function|echo|return|if)\b', re.I)


def _looks_like_code(v):
    return bool(_CODE_HINT.search(v[:4096]))


def _show(v):
    return v[:120].decode('latin-1')


def _regex_modifiers(v):
    if not isinstance(v, bytes) or len(v) < 2:
        return None
    d = v[:1]
    if d.isalnum() or d == b'\\' or d.isspace():
        return None
    close = {b'(': b')', b'[': b']', b'{': b'}', b'<': b'>'}.get(d, d)
    e = v.rfind(close)
    if e <= 0:
        return None
    return v[e + 1:]
