"""Constant folding over PHP tokens: compute what an expression of literals evaluates to.

Names built at run time are the obfuscator's first tool: ``$s[7].$s[25]...`` over a
scrambled alphabet, ``chr(211^181)``, ``'rSy'|~EAlZ``, ``str_replace('x','','sxyxsxtxexm')``,
``base64_decode('c3lzdGVt')``.  Folding evaluates such expressions as PHP would, but only
over literals, known variables and a fixed list of PURE functions: nothing is ever executed,
and anything not understood makes the value unknown (None) rather than a guess.

Values: bytes, int, float, bool, None is 'unknown' (PHP null is the NULL sentinel) and
arrays are Python dicts (insertion-ordered like PHP's).  Every node costs one step from a
shared `Budget` and every string is capped, so a hostile file cannot make folding
expensive: it just stops knowing.

Hand-written: no library evaluates PHP expressions.
"""
import binascii
import re

from newfilewatch import decode


class Unknown(Exception):
    """The expression cannot be folded (not constant, or past the budget)."""


class _Null(object):
    def __repr__(self):
        return 'NULL'


NULL = _Null()
MAX_STR = 1 << 20


class Budget(object):
    """Work counter for one file's folding (all expressions together)."""

    def __init__(self, steps=200000, output=4 << 20):
        self.steps = steps
        self.decode = decode.Budget(max_output=output, max_layers=8, max_steps=2000)
        self.used = 0

    def take(self, n=1):
        self.used += n
        if self.used > self.steps:
            raise Unknown('budget')


# --- PHP's conversions ---------------------------------------------------------------------
def to_bytes(v):
    if isinstance(v, bytes):
        return v
    if v is True:
        return b'1'
    if v is False or v is NULL:
        return b''
    if isinstance(v, int):
        return str(v).encode()
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e15:
            return str(int(v)).encode()
        return repr(v).encode()
    if isinstance(v, dict):
        return b'Array'
    raise Unknown('type')


_NUM = re.compile(rb'\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)')


def to_num(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return v
    if v is NULL:
        return 0
    if isinstance(v, bytes):
        m = _NUM.match(v)
        if not m:
            return 0
        t = m.group(1)
        try:
            return int(t)
        except ValueError:
            return float(t)
    raise Unknown('type')


def to_int(v):
    n = to_num(v)
    try:
        return int(n)
    except (OverflowError, ValueError):
        raise Unknown('int')


def _cap(b):
    if len(b) > MAX_STR:
        raise Unknown('size')
    return b


def _bitwise(op, a, b):
    if isinstance(a, bytes) and isinstance(b, bytes):
        if op == b'^':
            return bytes(x ^ y for x, y in zip(a, b))
        if op == b'&':
            return bytes(x & y for x, y in zip(a, b))
        long, short = (a, b) if len(a) >= len(b) else (b, a)
        return bytes(x | y for x, y in zip(long, short)) + long[len(short):]
    x, y = to_int(a), to_int(b)
    return x ^ y if op == b'^' else (x & y if op == b'&' else x | y)


# --- pure functions ------------------------------------------------------------------------
def _arg(args, i, default=Unknown):
    if i < len(args):
        return args[i]
    if default is Unknown:
        raise Unknown('arity')
    return default


def _chr(args):
    return bytes((to_int(_arg(args, 0)) % 256,))


def _ord(args):
    s = to_bytes(_arg(args, 0))
    return s[0] if s else 0


def _substr(args):
    s = to_bytes(_arg(args, 0))
    start = to_int(_arg(args, 1))
    length = _arg(args, 2, NULL)
    n = len(s)
    if start < 0:
        start = max(n + start, 0)
    if length is NULL:
        return s[start:]
    length = to_int(length)
    end = n + length if length < 0 else start + length
    return s[start:end]


def _replace(args, ci=False):
    search, repl, subject = _arg(args, 0), _arg(args, 1), _arg(args, 2)
    subject = to_bytes(subject)
    searches = list(search.values()) if isinstance(search, dict) else [search]
    repls = (list(repl.values()) if isinstance(repl, dict) else None)
    for k, s in enumerate(searches):
        s = to_bytes(s)
        r = (to_bytes(repls[k]) if k < len(repls) else b'') if repls is not None else to_bytes(repl)
        if not s:
            continue
        if ci:
            subject = re.sub(re.escape(s), lambda m: r, subject, flags=re.I)
        else:
            subject = subject.replace(s, r)
        _cap(subject)
    return subject


def _strtr(args):
    s = to_bytes(_arg(args, 0))
    if len(args) == 2:
        pairs = _arg(args, 1)
        if not isinstance(pairs, dict):
            raise Unknown('strtr')
        keys = sorted((to_bytes(k) for k in pairs), key=len, reverse=True)
        keys = [k for k in keys if k]
        if not keys:
            return s
        table = {to_bytes(k): to_bytes(v) for k, v in pairs.items()}
        rx = re.compile(b'|'.join(re.escape(k) for k in keys))
        return _cap(rx.sub(lambda m: table[m.group(0)], s))
    a, b = to_bytes(_arg(args, 1)), to_bytes(_arg(args, 2))
    n = min(len(a), len(b))
    if not n:
        return s
    return s.translate(bytes.maketrans(a[:n], b[:n]))


def _implode(args):
    a, b = _arg(args, 0), _arg(args, 1, NULL)
    if isinstance(a, dict):
        glue, arr = (b'' if b is NULL else to_bytes(b)), a
    elif isinstance(b, dict):
        glue, arr = to_bytes(a), b
    else:
        raise Unknown('implode')
    return _cap(glue.join(to_bytes(v) for v in arr.values()))


def _explode(args):
    sep, s = to_bytes(_arg(args, 0)), to_bytes(_arg(args, 1))
    if not sep:
        raise Unknown('explode')
    return _array(s.split(sep)[:100000])


def _array(values):
    return {i: v for i, v in enumerate(values)}


def _str_split(args):
    s = to_bytes(_arg(args, 0))
    n = max(to_int(_arg(args, 1, 1)), 1)
    return _array([s[i:i + n] for i in range(0, len(s), n)][:100000])


def _range(args):
    a, b = _arg(args, 0), _arg(args, 1)
    step = abs(to_int(_arg(args, 2, 1))) or 1
    if isinstance(a, bytes) and isinstance(b, bytes) and len(a) >= 1 and len(b) >= 1 and \
            not _NUM.match(a) and not _NUM.match(b):
        x, y = a[0], b[0]
    else:
        x, y = to_int(a), to_int(b)
        if abs(y - x) > 100000:
            raise Unknown('range')
        seq = range(x, y + 1, step) if x <= y else range(x, y - 1, -step)
        return _array(list(seq))
    seq = range(x, y + 1, step) if x <= y else range(x, y - 1, -step)
    return _array([bytes((c,)) for c in seq])


def _sprintf(args):
    fmt = to_bytes(_arg(args, 0))
    vals = list(args[1:])
    out, k = [], 0

    def conv(m):
        nonlocal k
        spec = m.group(2)
        if spec == b'%':
            return b'%'
        pos = m.group(1)
        if pos:
            v = vals[int(pos[:-1]) - 1] if int(pos[:-1]) - 1 < len(vals) else Unknown
        else:
            v = vals[k] if k < len(vals) else Unknown
            k += 1
        if v is Unknown:
            raise Unknown('sprintf')
        if spec == b'c':
            return bytes((to_int(v) % 256,))
        if spec in (b'd', b'u', b'i'):
            return str(to_int(v)).encode()
        if spec == b'x':
            return ('%x' % to_int(v)).encode()
        if spec == b'X':
            return ('%X' % to_int(v)).encode()
        if spec == b'o':
            return ('%o' % to_int(v)).encode()
        return to_bytes(v)
    out = re.sub(rb'%(\d+\$)?[-+ 0\'.\d]*([%a-zA-Z])', conv, fmt)
    return _cap(out)


def _pack(args):
    fmt = to_bytes(_arg(args, 0))
    if fmt[:1] in (b'H', b'h') and len(args) >= 2:
        hexs = re.sub(rb'[^0-9A-Fa-f]', b'', to_bytes(args[1]))
        if fmt[:1] == b'h':
            hexs = b''.join(hexs[i + 1:i + 2] + hexs[i:i + 1] for i in range(0, len(hexs), 2))
        return binascii.unhexlify(hexs[:len(hexs) // 2 * 2])
    if fmt[:1] in (b'c', b'C') and len(args) >= 2:
        return bytes(to_int(v) % 256 for v in args[1:])
    raise Unknown('pack')


def _trim(chars_default=b' \t\n\r\0\x0b', side='both'):
    def f(args):
        s = to_bytes(_arg(args, 0))
        chars = to_bytes(_arg(args, 1)) if len(args) > 1 else chars_default
        if b'..' in chars:
            raise Unknown('trim range')
        if side == 'l':
            return s.lstrip(chars)
        if side == 'r':
            return s.rstrip(chars)
        return s.strip(chars)
    return f


def _decoder(name):
    def f(args, budget):
        out = decode.apply(name, to_bytes(_arg(args, 0)), budget.decode)
        if out is None:
            raise Unknown('decode')
        return out
    return f


def _str_repeat(args):
    s, n = to_bytes(_arg(args, 0)), to_int(_arg(args, 1))
    if n < 0 or len(s) * n > MAX_STR:
        raise Unknown('repeat')
    return s * n


def _base_conv(base):
    def f(args):
        s = re.sub(rb'[^0-9a-fA-F]', b'', to_bytes(_arg(args, 0)))
        try:
            return int(s, base) if s else 0
        except ValueError:
            return 0
    return f


def _html_decode(args):
    import html
    return html.unescape(to_bytes(_arg(args, 0)).decode('latin-1')).encode('latin-1', 'replace')


def _array_values(args):
    a = _arg(args, 0)
    if not isinstance(a, dict):
        raise Unknown('array')
    return _array(list(a.values()))


def _array_reverse(args):
    a = _arg(args, 0)
    if not isinstance(a, dict):
        raise Unknown('array')
    return _array(list(a.values())[::-1])


def _array_flip(args):
    a = _arg(args, 0)
    if not isinstance(a, dict):
        raise Unknown('array')
    return {(v if isinstance(v, (int, bytes)) else to_bytes(v)): k for k, v in a.items()}


def _strlen(args):
    return len(to_bytes(_arg(args, 0)))


def _count(args):
    a = _arg(args, 0)
    if not isinstance(a, dict):
        raise Unknown('count')
    return len(a)


def _str_pad(args):
    s, n = to_bytes(_arg(args, 0)), to_int(_arg(args, 1))
    pad = to_bytes(_arg(args, 2, b' ')) or b' '
    if n > MAX_STR:
        raise Unknown('pad')
    while len(s) < n:
        s += pad
    return s[:max(n, len(s) if len(s) >= n else n)]


def _ucwords(args):
    s = to_bytes(_arg(args, 0))
    return re.sub(rb'(^|\s)([a-z])', lambda m: m.group(1) + m.group(2).upper(), s)


def _bin2hex(args):
    return binascii.hexlify(to_bytes(_arg(args, 0)))


def _dechex(args):
    return ('%x' % to_int(_arg(args, 0))).encode()


def _strval(args):
    return to_bytes(_arg(args, 0))


# name -> (function, needs_budget)
PURE = {
    'chr': _chr, 'ord': _ord, 'strrev': lambda a: to_bytes(_arg(a, 0))[::-1],
    'strtolower': lambda a: to_bytes(_arg(a, 0)).lower(),
    'strtoupper': lambda a: to_bytes(_arg(a, 0)).upper(),
    'ucfirst': lambda a: to_bytes(_arg(a, 0))[:1].upper() + to_bytes(_arg(a, 0))[1:],
    'lcfirst': lambda a: to_bytes(_arg(a, 0))[:1].lower() + to_bytes(_arg(a, 0))[1:],
    'ucwords': _ucwords,
    'trim': _trim(), 'ltrim': _trim(side='l'), 'rtrim': _trim(side='r'), 'chop': _trim(side='r'),
    'substr': _substr, 'mb_substr': _substr,
    'str_replace': _replace, 'str_ireplace': lambda a: _replace(a, ci=True),
    'strtr': _strtr, 'implode': _implode, 'join': _implode, 'explode': _explode,
    'str_split': _str_split, 'range': _range, 'sprintf': _sprintf, 'vsprintf': None,
    'pack': _pack, 'str_repeat': _str_repeat, 'strval': _strval,
    'intval': lambda a: to_int(_arg(a, 0)), 'hexdec': _base_conv(16), 'octdec': _base_conv(8),
    'bindec': _base_conv(2), 'dechex': _dechex, 'bin2hex': _bin2hex,
    'html_entity_decode': _html_decode, 'htmlspecialchars_decode': _html_decode,
    'array_values': _array_values, 'array_reverse': _array_reverse, 'array_flip': _array_flip,
    'strlen': _strlen, 'count': _count, 'sizeof': _count, 'str_pad': _str_pad,
}
PURE = {k: v for k, v in PURE.items() if v is not None}
DECODING = {}
for _d in decode.DECODERS:
    DECODING[_d] = _decoder(_d)
# Names whose use in a folded value means the code decoded something to build it.
DECODER_NAMES = frozenset(DECODING) | {'chr', 'pack', 'strrev', 'str_rot13', 'hex2bin', 'strtr',
                                       'str_replace', 'hexdec', 'octdec'}
CONSTANTS = {'php_eol': b'\n', 'directory_separator': b'/', 'path_separator': b':',
             'php_int_size': 8, 'php_os': b'Linux', 'true': True, 'false': False, 'null': NULL,
             'e_all': 32767, 'e_error': 1, 'php_int_max': (1 << 63) - 1}

_BINARY = {
    # precedence (higher binds tighter), left-assoc
    b'or': 1, b'xor': 2, b'and': 3,
    b'??': 7, b'||': 8, b'&&': 9, b'|': 10, b'^': 11, b'&': 12,
    b'==': 13, b'!=': 13, b'===': 13, b'!==': 13, b'<>': 13, b'<=>': 13,
    b'<': 14, b'>': 14, b'<=': 14, b'>=': 14,
    b'.': 15, b'<<': 16, b'>>': 16, b'+': 17, b'-': 17,
    b'*': 18, b'/': 18, b'%': 18, b'**': 20,
}
_ASSIGN = frozenset((b'=', b'.=', b'+=', b'-=', b'*=', b'^=', b'|=', b'&=', b'??='))


class Folder(object):
    """Evaluates token ranges.  `env` maps variable names to values (or is consulted through
    `lookup(name)`); `consts` maps define()d constant names; `data` gives the original
    spelling of bare constants (PHP before 8 reads an undefined constant as its own name)."""

    def __init__(self, toks, data, budget, lookup=None, consts=None, functions=None,
                 computed_vars=None, decoded_vars=None):
        self.toks = toks
        self.data = data
        self.budget = budget
        self.lookup = lookup or (lambda name: None)
        self.consts = consts if consts is not None else {}
        self.functions = functions or {}     # user functions that just return a literal
        self.used_decoder = False
        self.used_bitwise = False
        self.computed = False          # anything beyond one plain literal went into the value
        self.computed_vars = computed_vars if computed_vars is not None else ()
        self.decoded_vars = decoded_vars if decoded_vars is not None else ()

    # entry points -------------------------------------------------------------------------
    def fold(self, i, j):
        """Value of toks[i:j] as one expression, or None."""
        if i >= j:
            return None
        self.i, self.j = i, j
        try:
            v = self.expr(0)
            if self.i != self.j:
                return None
            return v
        except (Unknown, RecursionError, IndexError, ValueError, TypeError, OverflowError,
                ZeroDivisionError, MemoryError, KeyError, AttributeError):
            return None

    # parser -------------------------------------------------------------------------------
    def peek(self):
        if self.i >= self.j:
            return None
        return self.toks[self.i]

    def expr(self, min_prec):
        self.budget.take()
        left = self.unary()
        while True:
            t = self.peek()
            if t is None:
                return left
            k, v = t[0], t[1]
            if k == 'O' and v == b'?':
                if min_prec > 6:
                    return left
                self.i += 1
                if self.peek() and self.peek()[1] == b':':       # ?:
                    self.i += 1
                    other = self.expr(7)
                    left = left if _truthy(left) else other
                    continue
                a = self.expr(0)
                t2 = self.peek()
                if t2 is None or t2[1] != b':':
                    raise Unknown('ternary')
                self.i += 1
                b = self.expr(6)
                left = a if _truthy(left) else b
                continue
            if k == 'I' and v in (b'or', b'xor', b'and'):
                prec = _BINARY[v]
            elif k == 'O' and v in _BINARY:
                prec = _BINARY[v]
            else:
                return left
            if prec < min_prec:
                return left
            self.i += 1
            right = self.expr(prec + (0 if v == b'**' else 1))
            left = self.binary(v, left, right)

    def binary(self, op, a, b):
        self.computed = True
        if op == b'.':
            return _cap(to_bytes(a) + to_bytes(b))
        if op in (b'^', b'|', b'&'):
            self.used_bitwise = True
            return _bitwise(op, a, b)
        if op == b'+':
            if isinstance(a, dict) and isinstance(b, dict):
                r = dict(a)
                for k, v in b.items():
                    r.setdefault(k, v)
                return r
            return to_num(a) + to_num(b)
        if op == b'-':
            return to_num(a) - to_num(b)
        if op == b'*':
            return to_num(a) * to_num(b)
        if op == b'/':
            x, y = to_num(a), to_num(b)
            r = x / y
            return int(r) if r == int(r) else r
        if op == b'%':
            return to_int(a) % to_int(b) if to_int(b) else 0
        if op == b'**':
            x, y = to_num(a), to_num(b)
            if abs(y) > 64:
                raise Unknown('pow')
            return x ** y
        if op == b'<<':
            return (to_int(a) << (to_int(b) & 63)) & ((1 << 64) - 1)
        if op == b'>>':
            return to_int(a) >> (to_int(b) & 63)
        if op == b'??':
            return b if a is NULL else a
        if op in (b'==', b'==='):
            return a == b
        if op in (b'!=', b'!==', b'<>'):
            return a != b
        if op in (b'||', b'or'):
            return _truthy(a) or _truthy(b)
        if op in (b'&&', b'and'):
            return _truthy(a) and _truthy(b)
        if op == b'xor':
            return _truthy(a) != _truthy(b)
        if op in (b'<', b'>', b'<=', b'>='):
            x, y = to_num(a), to_num(b)
            return {b'<': x < y, b'>': x > y, b'<=': x <= y, b'>=': x >= y}[op]
        raise Unknown(op)

    def unary(self):
        t = self.peek()
        if t is None:
            raise Unknown('eof')
        k, v = t[0], t[1]
        if k == 'O':
            if v == b'-':
                self.i += 1
                return -to_num(self.unary_pow())
            if v == b'+':
                self.i += 1
                return to_num(self.unary_pow())
            if v == b'!':
                self.i += 1
                return not _truthy(self.unary_pow())
            if v == b'~':
                self.i += 1
                self.used_bitwise = True
                self.computed = True
                x = self.unary_pow()
                if isinstance(x, bytes):
                    return bytes(255 - c for c in x)
                return ~to_int(x)
            if v == b'@':
                self.i += 1
                return self.unary()
        if k == 'C':
            self.i += 1
            x = self.unary()
            if v in (b'string', b'binary'):
                return to_bytes(x)
            if v in (b'int', b'integer'):
                return to_int(x)
            if v in (b'float', b'double', b'real'):
                return float(to_num(x))
            if v in (b'bool', b'boolean'):
                return _truthy(x)
            raise Unknown('cast')
        return self.unary_pow()

    def unary_pow(self):
        base = self.postfix()
        t = self.peek()
        if t is not None and t[0] == 'O' and t[1] == b'**':
            self.i += 1
            e = self.unary()
            return to_num(base) ** to_num(e) if abs(to_num(e)) <= 64 else _raise('pow')
        return base

    def postfix(self):
        v = self.primary()
        while True:
            t = self.peek()
            if t is None or t[0] != 'O':
                return v
            if t[1] == b'[' or t[1] == b'{':
                close = b']' if t[1] == b'[' else b'}'
                self.i += 1
                idx = self.expr(0)
                t2 = self.peek()
                if t2 is None or t2[1] != close:
                    raise Unknown('index')
                self.i += 1
                self.computed = True
                v = _index(v, idx)
                continue
            if t[1] == b'(' and isinstance(v, bytes) and 0 < len(v) <= 64:
                # $f = 'base'.'64_decode'; $f('...'): a call through a name the code built
                name = v.strip().lstrip(b'\\').decode('latin-1')
                args = self.args()
                self.computed = True
                v = self.call(name, args)
                continue
            return v

    def args(self):
        """Parse '(' a, b, ... ')' and return the values."""
        t = self.peek()
        if t is None or t[1] != b'(':
            raise Unknown('args')
        self.i += 1
        out = []
        if self.peek() is not None and self.peek()[1] == b')':
            self.i += 1
            return out
        while True:
            out.append(self.expr(4))
            t = self.peek()
            if t is None:
                raise Unknown('args')
            self.i += 1
            if t[1] == b')':
                return out
            if t[1] != b',':
                raise Unknown('args')
            if self.peek() is not None and self.peek()[1] == b')':   # trailing comma
                self.i += 1
                return out

    def primary(self):
        t = self.peek()
        k, v = t[0], t[1]
        self.budget.take()
        if k == 'S':
            self.i += 1
            return v
        if k == 'N':
            self.i += 1
            return v
        if k == 'T':
            self.i += 1
            out = []
            for p in v:
                if isinstance(p, bytes):
                    out.append(p)
                elif p[0] == '$':
                    x = self.lookup(p[1])
                    if x is None:
                        raise Unknown('var')
                    self.computed = True
                    out.append(to_bytes(x))
                else:
                    raise Unknown('complex')
            return _cap(b''.join(out))
        if k == 'V':
            self.i += 1
            x = self.lookup(v)
            if x is None:
                raise Unknown('var')
            if v in self.computed_vars:
                self.computed = True
            if v in self.decoded_vars:
                self.used_decoder = True
            # an assignment inside an expression: ($a = 'x')
            t2 = self.peek()
            if t2 is not None and t2[0] == 'O' and t2[1] in _ASSIGN:
                raise Unknown('assign')
            return x
        if k == 'O':
            if v == b'(':
                self.i += 1
                x = self.expr(0)
                t2 = self.peek()
                if t2 is None or t2[1] != b')':
                    raise Unknown('paren')
                self.i += 1
                return x
            if v == b'[':
                return self.array_literal(b']')
            if v == b'$':                        # $$name / ${'name'}
                self.i += 1
                t2 = self.peek()
                if t2 is None:
                    raise Unknown('$')
                if t2[1] == b'{':
                    self.i += 1
                    name = self.expr(0)
                    if self.peek() is None or self.peek()[1] != b'}':
                        raise Unknown('${')
                    self.i += 1
                else:
                    name = self.primary()
                x = self.lookup(to_bytes(name))
                if x is None:
                    raise Unknown('$$')
                self.computed = True
                return x
            raise Unknown('op')
        if k == 'I':
            self.i += 1
            t2 = self.peek()
            if v == b'array' and t2 is not None and t2[1] == b'(':
                self.i -= 0
                return self.array_literal(b')', opener=True)
            if t2 is not None and t2[0] == 'O' and t2[1] == b'(':
                name = v.decode('latin-1').lstrip('\\')
                args = self.args()
                return self.call(name, args)
            if t2 is not None and t2[0] == 'O' and t2[1] in (b'::', b'->'):
                raise Unknown('member')
            key = v.lstrip(b'\\')
            if key in self.consts:
                return self.consts[key]
            c = CONSTANTS.get(key.decode('latin-1'))
            if c is not None:
                return c
            # PHP < 8: an undefined constant reads as its own name (original spelling)
            m = re.compile(rb'\\?[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*').match(self.data, t[2])
            return m.group(0).lstrip(b'\\') if m else v
        raise Unknown(k)

    def array_literal(self, close, opener=False):
        self.i += 1                                  # '[' or the '(' after 'array'
        out = {}
        nxt = 0
        while True:
            t = self.peek()
            if t is None:
                raise Unknown('array')
            if t[1] == close:
                self.i += 1
                return out
            val = self.expr(4)
            t = self.peek()
            if t is not None and t[1] == b'=>':
                self.i += 1
                key = val
                val = self.expr(4)
                key = key if isinstance(key, (int, bytes)) else to_bytes(key)
                if isinstance(key, bytes) and re.match(rb'^(0|-?[1-9]\d{0,17})$', key):
                    key = int(key)
                out[key] = val
                if isinstance(key, int) and key >= nxt:
                    nxt = key + 1
            else:
                out[nxt] = val
                nxt += 1
            if len(out) > 100000:
                raise Unknown('array size')
            t = self.peek()
            if t is None:
                raise Unknown('array')
            if t[1] == b',':
                self.i += 1

    def call(self, name, args):
        self.computed = True
        lname = name.lower()
        f = PURE.get(lname)
        if f is not None:
            if lname in DECODER_NAMES:
                self.used_decoder = True
            return f(args)
        f = DECODING.get(lname)
        if f is not None:
            self.used_decoder = True
            return f(args, self.budget)
        body = self.functions.get(lname)
        if body is not None:
            if callable(body):                  # a function of the file, inlined
                return body(args)
            return body
        raise Unknown('call')


def _raise(why):
    raise Unknown(why)


def _truthy(v):
    if isinstance(v, dict):
        return bool(v)
    if v is NULL:
        return False
    if isinstance(v, bytes):
        return v not in (b'', b'0')
    return bool(v)


def _index(v, idx):
    if isinstance(v, bytes):
        n = to_int(idx)
        if n < 0:
            n += len(v)
        if 0 <= n < len(v):
            return v[n:n + 1]
        raise Unknown('offset')
    if isinstance(v, dict):
        key = idx if isinstance(idx, (int, bytes)) else to_bytes(idx)
        if isinstance(key, bytes) and re.match(rb'^(0|-?[1-9]\d{0,17})$', key):
            key = int(key)
        if key in v:
            return v[key]
        raise Unknown('key')
    raise Unknown('index type')
