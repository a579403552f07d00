"""Bounded de-obfuscation of PHP literals: peel decoder layers so the rules can read what runs.

Webshells hide their code in literal strings wrapped in decoder calls
(``eval(gzinflate(base64_decode('...')))``), in escaped strings (``"\\x73\\x79..."``), in
``chr()`` chains and in concatenated fragments.  Everything here works on LITERALS only: it
never evaluates code, and every step is paid from a `Budget` so a decompression bomb or a
50-layer nest costs a bounded amount of work and memory whatever the input.

No library decodes PHP string syntax or applies PHP's decoder functions, so this is
hand-written on top of binascii/zlib/urllib (which do the actual decoding).
"""
import binascii
import re
import urllib.parse
import zlib

# PHP decoder functions we can apply to a literal, lower-case.
DECODERS = ('base64_decode', 'gzinflate', 'gzuncompress', 'gzdecode', 'str_rot13', 'strrev',
            'urldecode', 'rawurldecode', 'hex2bin', 'stripslashes', 'convert_uudecode')

_ROT13 = bytes.maketrans(
    b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
    b'NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm')
_B64_JUNK = re.compile(rb'[^A-Za-z0-9+/]')
_HEXDIGITS = re.compile(rb'[^0-9A-Fa-f]')

# A chain of decoder calls opening on a quoted literal: gzinflate( base64_decode( '...
_DECODER_BYTES = tuple(d.encode() for d in DECODERS)
_CHAIN = re.compile(   # matched on lower-cased bytes
    rb'(?<![a-z0-9_$>])((?:(?:' + b'|'.join(_DECODER_BYTES) + rb')\s*\(\s*){1,24})([\'"])')
_CALL_NAME = re.compile(rb'([a-z0-9_]+)\s*\(')
# Escapes inside a double-quoted PHP string.
_DQ_ESCAPE = re.compile(rb'\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|u\{[0-9A-Fa-f]{1,6}\}|.)', re.S)
_SIMPLE_ESC = {b'n': b'\n', b't': b'\t', b'r': b'\r', b'v': b'\v', b'e': b'\x1b', b'f': b'\f',
               b'\\': b'\\', b'$': b'$', b'"': b'"'}
# chr(115).chr(121)... with decimal, hex or octal numbers.
_CHR_CHAIN = re.compile(
    rb'chr\s*\(\s*(?:0x[0-9a-f]+|\d+)\s*\)(?:\s*\.\s*chr\s*\(\s*(?:0x[0-9a-f]+|\d+)\s*\)){2,200}',
    re.I)
_CHR_NUM = re.compile(rb'\(\s*(0x[0-9a-f]+|\d+)\s*\)', re.I)
# 'sys' . 'tem' . "\x65..." : two or more quoted fragments joined with dots.
_CONCAT = re.compile(
    rb'(?:\'[^\'\\\n]{0,64}\'|"(?:[^"\\\n]|\\.){0,64}")'
    rb'(?:\s*\.\s*(?:\'[^\'\\\n]{0,64}\'|"(?:[^"\\\n]|\\.){0,64}")){1,40}')
_FRAGMENT = re.compile(rb'\'([^\'\\\n]{0,64})\'|"((?:[^"\\\n]|\\.){0,64})"')


class Budget(object):
    """Work counters shared by one file's decoding; decoding stops when any limit is reached.

    max_output   total decoded bytes kept for the whole file (all layers together)
    max_layers   deepest decoder nesting followed (layer 1 = a literal in the file itself)
    max_steps    decoder applications and literal parses, all together
    """

    def __init__(self, max_output=1 << 20, max_layers=8, max_steps=400):
        self.max_output = max_output
        self.max_layers = max_layers
        self.max_steps = max_steps
        self.output = 0
        self.steps = 0
        self.deepest = 0
        self.exhausted = False

    def take_step(self):
        if self.steps >= self.max_steps:
            self.exhausted = True
            return False
        self.steps += 1
        return True

    def room(self):
        return max(self.max_output - self.output, 0)


def read_literal(data, start, limit=8 << 20):
    """Read the PHP string literal whose opening quote is at data[start].

    Returns (value, end) with end just past the closing quote, or (None, start) when the
    literal is unterminated within `limit` bytes.  Single-quoted strings only know \\' and
    \\\\; double-quoted ones get PHP's escapes (hex, octal, \\u{}) decoded.
    """
    quote = data[start:start + 1]
    if quote not in (b"'", b'"'):
        return None, start
    i = start + 1
    stop = min(len(data), start + limit)
    while i < stop:
        j = data.find(quote, i, stop)
        if j < 0:
            return None, start
        backslashes = 0
        k = j - 1
        while k > start and data[k] == 0x5c:
            backslashes += 1
            k -= 1
        if backslashes % 2 == 0:
            body = data[start + 1:j]
            return (unescape(body, quote), j + 1)
        i = j + 1
    return None, start


def unescape(body, quote):
    """Apply PHP's escape rules for a literal body quoted with `quote`."""
    if b'\\' not in body:
        return body
    if quote == b"'":
        return body.replace(b"\\\\", b"\\").replace(b"\\'", b"'")
    return _DQ_ESCAPE.sub(_dq_one, body)


def _dq_one(m):
    e = m.group(1)
    c = e[:1]
    if c == b'x' and len(e) > 1:
        return bytes((int(e[1:], 16),))
    if c in b'01234567' and c:
        return bytes((int(e, 8) & 0xff,))
    if c == b'u':
        try:
            return chr(int(e[2:-1], 16)).encode('utf-8', 'surrogatepass')
        except (ValueError, OverflowError):
            return b'\\' + e
    return _SIMPLE_ESC.get(e, b'\\' + e)


def apply(name, value, budget):
    """Apply one PHP decoder to bytes; None when it does not decode (PHP would return false)."""
    room = budget.room()
    if room <= 0 or not budget.take_step():
        budget.exhausted = True
        return None
    try:
        if name == 'base64_decode':
            clean = _B64_JUNK.sub(b'', value[:room * 2])
            clean = clean[:len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
            out = binascii.a2b_base64(clean + b'=' * (-len(clean) % 4))
        elif name in ('gzinflate', 'gzuncompress', 'gzdecode'):
            wbits = {'gzinflate': -15, 'gzuncompress': 15, 'gzdecode': 31}[name]
            # max_length caps what a decompression bomb can produce.
            out = zlib.decompressobj(wbits).decompress(value, room)
        elif name == 'str_rot13':
            out = value.translate(_ROT13)
        elif name == 'strrev':
            out = value[::-1]
        elif name == 'urldecode':
            out = urllib.parse.unquote_to_bytes(value.replace(b'+', b' '))
        elif name == 'rawurldecode':
            out = urllib.parse.unquote_to_bytes(value)
        elif name == 'hex2bin':
            out = binascii.unhexlify(_HEXDIGITS.sub(b'', value)[:room * 2 // 2 * 2])
        elif name == 'stripslashes':
            out = re.sub(rb'\\(.)', rb'\1', value, flags=re.S)
        elif name == 'convert_uudecode':
            out = b''.join(binascii.a2b_uu(line) for line in value.splitlines()[:room // 45 + 1]
                           if line and line[:1] != b'`')
        else:
            return None
    except (binascii.Error, zlib.error, ValueError):
        return None
    out = out[:room]
    budget.output += len(out)
    if budget.output >= budget.max_output:
        budget.exhausted = True
    return out


class Layer(object):
    """One decoded literal: where it sits, which decoders ran (outermost first), what came out.

    `pos` is the offset in the buffer given to peel() of the chain the layer came from
    (for inner layers: of the outermost chain), so hits inside decoded code can point at
    a real line; `literal_len` is the size of the encoded literal.
    """
    __slots__ = ('pos', 'chain', 'payload', 'depth', 'literal_len')

    def __init__(self, pos, chain, payload, depth, literal_len):
        self.pos, self.chain, self.payload = pos, chain, payload
        self.depth, self.literal_len = depth, literal_len

    def __repr__(self):
        return 'Layer(pos=%d, chain=%r, depth=%d, %d bytes)' % (
            self.pos, self.chain, self.depth, len(self.payload))


def peel(data, budget=None, depth=1, starts=None, min_depth=1):
    """Find decoder chains over literals in `data` and decode them, layer after layer.

    `starts` (optional) are offsets where decoder calls begin (the engine already found
    them); without it the whole buffer is searched.  Returns Layers, outermost first.
    """
    budget = budget or Budget()
    layers = []
    _peel(data, budget, max(depth, min_depth), None, layers, starts)
    return layers


def _peel(data, budget, depth, outer_pos, layers, starts=None):
    if depth > budget.max_layers:
        budget.exhausted = True
        return
    low = data.lower()                   # same offsets as data; lets the regex skip re.I
    if starts is None:
        if not any(d in low for d in _DECODER_BYTES):
            return
        matches = _CHAIN.finditer(low)
    else:
        matches = (m for m in (_CHAIN.match(low, s) for s in starts) if m)
    done = set()
    for m in matches:
        if budget.exhausted or not budget.take_step():
            return
        if m.start(2) in done:           # an inner call of a chain already decoded
            continue
        done.add(m.start(2))
        names = [n.decode('ascii') for n in _CALL_NAME.findall(m.group(1))]
        value, end = read_literal(data, m.start(2))
        if value is None:
            continue
        # The literal must close the innermost call: 'x' ) -- else it is f('a' . $b) etc.
        if not data[end:end + 8].lstrip().startswith(b')'):
            continue
        literal_len = end - m.start(2)
        for name in reversed(names):
            value = apply(name, value, budget)
            if value is None:
                break
        if not value:
            continue
        pos = m.start() if outer_pos is None else outer_pos
        budget.deepest = max(budget.deepest, depth)
        layers.append(Layer(pos, tuple(names), value, depth, literal_len))
        _peel(value, budget, depth + 1, pos, layers)


def chr_chains(data, limit=64):
    """Yield (pos, text) for chr(N).chr(N)... chains, decoded."""
    n = 0
    for m in _CHR_CHAIN.finditer(data):
        out = bytearray()
        for num in _CHR_NUM.findall(m.group(0)):
            v = int(num, 16) if num[:2].lower() == b'0x' else int(num)
            out.append(v & 0xff)
        yield m.start(), bytes(out)
        n += 1
        if n >= limit:
            return


def concatenations(data, limit=256):
    """Yield (pos, text) for 'a'.'b'."c" joins of short literals, joined and unescaped."""
    n = 0
    for m in _CONCAT.finditer(data):
        parts = []
        for single, double in _FRAGMENT.findall(m.group(0)):
            parts.append(single if single or not double else unescape(double, b'"'))
        yield m.start(), b''.join(parts)
        n += 1
        if n >= limit:
            return


# --- constant folding of string expressions ------------------------------------------------
# Shells spell a function name or a line of code from pieces at run time:
#   $a = 'as' . 's' . 'ert';  $a = strtr('azxcvt', 'zxcv', 'sser');  $c = $a . $s . 'sert';
#   $_ = ("%01" ^ "`") . ...;  $x = str_replace('`', '', 'a`s`s`e`r`t');
# `fold` computes such values from literals, variables already folded, and a few pure string
# functions — never anything with side effects — within a step budget.  Hand-written: no
# library evaluates PHP expressions without running PHP.
_FOLD_TOKEN = re.compile(
    rb"\s*(?:/\*.*?\*/\s*)*(?:(?P<q>['\"])|(?P<var>\$+[A-Za-z_]\w*)|(?P<num>0x[0-9A-Fa-f]+|\d+)|"
    rb"(?P<arr>array)\s*\(|(?P<fn>[A-Za-z_]\w*)\s*\(|(?P<const>(?i:null|false|true))\b|"
    rb"(?P<op>[.^~(),\[\]+*-])|(?P<end>$))", re.S)
_PURE = frozenset(('strtr', 'str_replace', 'str_ireplace', 'trim', 'ltrim', 'rtrim', 'substr',
                   'strrev', 'strtolower', 'strtoupper', 'ucfirst', 'lcfirst', 'chr', 'ord',
                   'base64_decode', 'str_rot13', 'hex2bin', 'urldecode', 'rawurldecode',
                   'gzinflate', 'gzuncompress', 'implode', 'join', 'sprintf', 'pack',
                   'strval', 'str_repeat', 'intval', 'hexdec', 'octdec'))


def _as_bytes(value):
    """PHP's string conversion of a folded value (ints print in decimal)."""
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, list):
        raise ValueError                     # 'Array': never what a shell means to build
    return value


def _as_int(value):
    if isinstance(value, int):
        return value
    m = re.match(rb'\s*(-?\d+)', _as_bytes(value))
    return int(m.group(1)) if m else 0


class _Folder(object):
    """Values are bytes, ints (numbers stay numbers so chr(211^181) and ord('?')-23 fold as
    PHP computes them) or lists (array(...) / [...] literals, for implode and $a[2])."""

    def __init__(self, text, env, budget):
        self.t, self.i, self.env, self.budget, self.steps = text, 0, env, budget, 0

    def tok(self):
        m = _FOLD_TOKEN.match(self.t, self.i)
        if not m:
            raise ValueError
        return m

    def expr(self):
        """concat := sum (('.' | '^') sum)*"""
        value = self.sum()
        while True:
            m = self.tok()
            op = m.group('op')
            if op not in (b'.', b'^'):
                return value
            self.i = m.end()
            rhs = self.sum()
            if op == b'.':
                value = _as_bytes(value) + _as_bytes(rhs)
            elif isinstance(value, int) and isinstance(rhs, int):
                value = value ^ rhs
            else:
                value = bytes(a ^ b for a, b in zip(_as_bytes(value), _as_bytes(rhs)))
            if len(_as_bytes(value)) > 4096:
                raise ValueError

    def sum(self):
        """sum := unary (('+' | '-' | '*') unary)*, on numbers only"""
        value = self.unary()
        while True:
            m = self.tok()
            op = m.group('op')
            if op not in (b'+', b'-', b'*'):
                return value
            self.i = m.end()
            a, b = _as_int(value), _as_int(self.unary())
            value = a + b if op == b'+' else a - b if op == b'-' else a * b
            if abs(value) > 1 << 32:
                raise ValueError

    def unary(self):
        self.steps += 1
        if self.steps > 400:
            raise ValueError
        m = self.tok()
        self.i = m.end()
        op = m.group('op')
        if op == b'~':
            v = self.unary()
            return ~v if isinstance(v, int) else bytes((~b) & 0xff for b in v)
        if op == b'-':
            return -_as_int(self.unary())
        if op == b'(':
            v = self.expr()
            self.expect(b')')
            return self.index(v)
        if op == b'[':
            return self.index(self.items(b']'))
        if m.group('q'):
            value, end = read_literal(self.t, m.start('q'), limit=1 << 20)
            if value is None:
                raise ValueError
            self.i = end
            return self.index(value)
        if m.group('num') is not None:
            num = m.group('num')
            return int(num, 16) if num[:2].lower() == b'0x' else int(num)
        if m.group('arr'):
            return self.index(self.items(b')'))
        if m.group('const'):                 # PHP prints null and false as '', true as '1'
            return b'1' if m.group('const').lower() == b'true' else b''
        if m.group('var'):
            name = m.group('var').lstrip(b'$')
            for _ in range(len(m.group('var')) - len(name) - 1):   # $$o: the variable $o names
                name = self.env.get(name)
                if not isinstance(name, bytes):
                    raise ValueError
            if name not in self.env:
                raise ValueError
            value = self.env[name]
            m2 = self.tok()
            if m2.group('op') == b'(' and isinstance(value, bytes):
                self.i = m2.end()            # $f = 'str_replace'; $f('a', '', ...)
                return self.index(self.call(value.strip().lower().decode('latin-1'),
                                            self.items(b')')))
            return self.index(value)
        if m.group('fn'):
            fn = m.group('fn').lower().decode()
            return self.index(self.call(fn, self.items(b')')))
        raise ValueError

    def items(self, close):
        """Comma-separated expressions up to `close` (call arguments, array items)."""
        out = []
        m = self.tok()
        if m.group('op') == close:
            self.i = m.end()
            return out
        while True:
            out.append(self.expr())
            m = self.tok()
            self.i = m.end()
            if m.group('op') == close:
                return out
            if m.group('op') != b',':
                raise ValueError

    def index(self, value):
        """value[...] : an array item or a string's byte."""
        while True:
            m = self.tok()
            if m.group('op') != b'[':
                return value
            self.i = m.end()
            key = _as_int(self.expr())
            self.expect(b']')
            if isinstance(value, int):
                raise ValueError
            if not -len(value) <= key < len(value):
                value = b''
            elif isinstance(value, list):
                value = value[key]
            else:
                value = value[key:key + 1] if key >= 0 else value[key:len(value) + key + 1]

    def expect(self, op):
        m = self.tok()
        if m.group('op') != op:
            raise ValueError
        self.i = m.end()

    def call(self, fn, args):
        if fn not in _PURE or not args:
            raise ValueError
        if fn in ('implode', 'join'):
            glue, parts = (args[0], args[1]) if len(args) > 1 else (b'', args[0])
            if isinstance(glue, list):
                glue, parts = parts, glue
            if not isinstance(parts, list):
                raise ValueError
            return _as_bytes(glue).join(_as_bytes(p) for p in parts)
        if fn == 'ord':
            a = _as_bytes(args[0])
            return a[0] if a else 0
        if fn == 'chr':
            return bytes((_as_int(args[0]) & 0xff,))
        if fn == 'intval':
            return _as_int(args[0])
        if fn in ('hexdec', 'octdec'):
            digits = re.sub(rb'[^0-9a-fA-F]' if fn == 'hexdec' else rb'[^0-7]', b'',
                            _as_bytes(args[0]))[:16]
            return int(digits, 16 if fn == 'hexdec' else 8) if digits else 0
        if fn == 'pack':
            fmt = _as_bytes(args[0])
            if fmt in (b'c*', b'C*') and len(args) > 1:
                return bytes(_as_int(x) & 0xff for x in args[1:])
            if len(args) != 2 or fmt not in (b'H*', b'h*'):
                raise ValueError
            return apply('hex2bin', _as_bytes(args[1]), self.budget) or b''
        if fn == 'sprintf':
            if len(args) != 1:
                raise ValueError             # only a format without arguments is constant
            return _as_bytes(args[0]).replace(b'%%', b'%')
        args = [_as_bytes(x) for x in args]
        a = args[0]
        if fn in ('trim', 'ltrim', 'rtrim'):
            return {'trim': a.strip, 'ltrim': a.lstrip, 'rtrim': a.rstrip}[fn]()
        if fn == 'strtr' and len(args) == 3:
            n = min(len(args[1]), len(args[2]))
            return a.translate(bytes.maketrans(args[1][:n], args[2][:n]))
        if fn in ('str_replace', 'str_ireplace') and len(args) == 3:
            return args[2].replace(args[0], args[1]) if args[0] else args[2]
        if fn == 'substr':
            start = _as_int(args[1]) if len(args) > 1 else 0
            if len(args) > 2:
                n = _as_int(args[2])
                end = (start + n if start >= 0 else len(a) + start + n) if n >= 0 else len(a) + n
                return a[start:][:max(0, end - (start if start >= 0 else len(a) + start))] \
                    if n >= 0 else a[start:end]
            return a[start:]
        if fn == 'strrev':
            return a[::-1]
        if fn in ('strtolower', 'strtoupper'):
            return a.lower() if fn == 'strtolower' else a.upper()
        if fn in ('ucfirst', 'lcfirst'):
            return (a[:1].upper() if fn == 'ucfirst' else a[:1].lower()) + a[1:]
        if fn == 'strval':
            return a
        if fn == 'str_repeat':
            n = _as_int(args[1]) if len(args) > 1 else 0
            if n * len(a) > 4096:
                raise ValueError
            return a * n
        out = apply(fn, a, self.budget)
        if out is None:
            raise ValueError
        return out


def fold(expr, env=None, budget=None, keep_arrays=False):
    """The constant value of the PHP expression `expr` (bytes), or None.

    `env` maps variable names (bytes, no '$') to values folded before.  With keep_arrays an
    array literal comes back as a list (for an env: `$a = array(chr(112), ..); $a[0]`)."""
    budget = budget or Budget(max_output=65536, max_layers=4, max_steps=40)
    f = _Folder(expr, env or {}, budget)
    try:
        value = f.expr()
        if f.tok().group('end') is None:
            return None                      # something follows that is not folded
        return value if keep_arrays and isinstance(value, list) else _as_bytes(value)
    except (ValueError, TypeError, IndexError, OverflowError, RecursionError):
        return None
