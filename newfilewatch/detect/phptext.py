"""Byte-level helpers over PHP source shared by the rule families: call arguments, literals and
comments, function spans, excerpts for alerts.

Approximate on purpose (no full parse): they run only around the few positions triage found,
and each is bounded so a hostile file costs a bounded amount of work.
"""
import binascii
import bisect
import collections
import re

from newfilewatch.detect import decode
from newfilewatch.detect.calls import DANGEROUS_NAMES, _DANGEROUS_BYTES, _EXEC_BYTES, _WORD


EXCERPT = 160


def _reversed_trie(words):
    """A regex alternation of `words` factored by first byte, so a miss costs one compare."""
    heads = collections.OrderedDict()
    for w in sorted(words):
        heads.setdefault(w[:1], []).append(w[1:])
    parts = []
    for head, tails in heads.items():
        rest = [t for t in tails if t]
        sub = _reversed_trie(rest) if rest else ''
        if rest and '' in tails:
            sub = '(?:%s)?' % sub
        parts.append(re.escape(head) + sub)
    return parts[0] if len(parts) == 1 else '(?:%s)' % '|'.join(parts)


# Blanks or short comments between a name and its '(' (eval/*x*/(...)), reversed.
_GAP = '(?:\\s|/\\*[^*]{0,40}\\*/){0,20}'

# Tokens of a statement prefix: whole strings, a call opener, a bare paren/bracket, commas,
# backticks, and a lone quote (the position lies inside that string).
_TOKEN = re.compile(
    rb"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|(->|::)?(\$?\\?[A-Za-z_][A-Za-z0-9_\\]*)\s*\(|[()\[\],`'"]""",
    re.S)
_SUBSCRIPT_AFTER = re.compile(rb'\s*\[[^\]\n]{0,80}\]')
_VAR = re.compile(rb'\$([A-Za-z_][A-Za-z0-9_]*)')


def _lowered(rx):
    """`rx` (re.I, bytes) for a lower-cased copy of the text: the same matches at the same
    offsets, without re.I, which makes sre compare every byte through a case table and
    loses the literal-prefix scan.  Letters after a backslash (\\b, \\s) stay as they are."""
    pat = re.sub(rb'\\\\.|[A-Z]', lambda m: m.group(0) if m.group(0)[:1] == b'\\' else m.group(0).lower(),
                 rx.pattern)
    return re.compile(pat, rx.flags & ~re.I)


_SHELL_STR = re.compile(rb'/bin/(?:ba|z|k|c|tc|da)?sh\b|cmd\.exe|pty\.spawn|sh\s+-i\b|'
                        rb'os\.dup2|\bdup2\b|/dev/tcp/', re.I)
# '$' first: the regex engine skips to each '$' at C speed (an alternation opening on letters
# would try every position).  Superglobals are case-sensitive in PHP.
# Request accessors of WordPress REST and Laravel: the same client values as superglobals.
_FRAMEWORK_INPUT = re.compile(rb'->\s*(get_params?|get_json_params|get_body_params|get_query_params|'
                              rb'get_file_params|input)\s*\(')
# Three or more short quoted pieces joined with dots: a name spelled from fragments.
_SPLIT_NEXT = re.compile(rb'\w{1,6}([\'"])\.\1')


# A quoted literal made only of hex digit pairs, long enough to hold a statement.
_HEX_LITERAL = re.compile(rb'[\'"]((?:[0-9a-fA-F]{2}){10,4096})[\'"]')
_CODE_LIKE = re.compile(rb'^[\x20-\x7e\t\r\n]*[a-zA-Z_]\w*\s*\([\x20-\x7e\t\r\n]*$')


def _hex_code(data, limit=4):
    """[(pos, text)] for bare hex literals that decode to printable text calling something:
    '617373657274...' is code hidden from every name-based check (pack('H*'), hex2bin or an
    echo to a client that evaluates it).  Hashes and binary blobs decode to unprintable
    bytes and are left alone."""
    out = []
    for m in _HEX_LITERAL.finditer(data):
        text = binascii.unhexlify(m.group(1))
        if _CODE_LIKE.match(text):
            out.append((m.start(), text))
            if len(out) >= limit:
                break
    return out


def _match_near(data, needle, rx, back, limit=200):
    """rx.search in a short window around each occurrence of `needle` (found at C speed):
    for rules whose literal is common in PHP but whose full shape is rare, so the regex never
    walks the whole file."""
    i = data.find(needle)
    n = 0
    while i >= 0 and n < limit:
        n += 1
        m = rx.search(data, max(0, i - back), i + len(needle) + 120)
        if m:
            return m
        i = data.find(needle, i + 1)
    return None


_STATEMENT_REST = re.compile(rb'(?:[^;\'"]|\'[^\'\\]*(?:\\.[^\'\\]*)*\'|"[^"\\]*(?:\\.[^"\\]*)*")*')
# The client's own values, for checks that only need to know the request is read at all.
_CLIENT_INPUT = re.compile(rb'\$_(?:GET|POST|REQUEST|COOKIE|FILES)\b|\$_SERVER\s*\[\s*[\'"](?:HTTP_|QUERY_STRING)|'
                           rb'php://input|getallheaders|apache_request_headers|getenv\s*\(\s*[\'"](?:HTTP_|QUERY_STRING)|'
                           rb'\$HTTP_(?:GET|POST|COOKIE)_VARS', re.I)
_NOT_A_CALL = frozenset((b'if', b'elseif', b'while', b'for', b'foreach', b'switch', b'array',
                         b'function', b'fn', b'isset', b'empty', b'unset', b'list', b'return',
                         b'echo', b'print', b'and', b'or', b'xor', b'use', b'catch', b'match'))


def _returns_callee(code, close):
    """Is the ')' at code[close] the end of a function call (`f(..)` in `f(..)(..)`), so its
    return value is what gets called?  Casts, conditions and `($this->cb)(..)` are not."""
    depth, i = 0, close
    while i >= 0 and close - i < 600:
        c = code[i]
        if c == 0x29:
            depth += 1
        elif c == 0x28:
            depth -= 1
            if depth == 0:
                m = re.search(rb'(?<![\w$>:])([A-Za-z_]\w*)\s*$', code[max(0, i - 64):i])
                return m is not None and m.group(1).lower() not in _NOT_A_CALL
        i -= 1
    return False


def _split_pieces(data):
    """'cr'.'eat'.'e_fun'...: a quoted piece of at most 6 word bytes between two joins (the
    separator string '.' alone does not count).  bytes.find keeps it at C speed."""
    for quote in (b"'.'", b'"."'):
        i = data.find(quote)
        n = 0
        while i >= 0 and n < 200:
            n += 1
            if _SPLIT_NEXT.match(data, i + 3):
                return True
            i = data.find(quote, i + 3)
    return False


def _php_code(data, limit=2048):
    """(PHP code of `data` with comments removed, offset mapper code->data), bounded."""
    parts, offsets = [], []
    i = data.find(b'<?')
    n = 0
    while i >= 0 and n < 64:
        n += 1
        j = data.find(b'?>', i + 2)
        end = len(data) if j < 0 else j
        chunk = data[i:end]
        parts.append(chunk)
        offsets.append(i)
        if j < 0:
            break
        i = data.find(b'<?', j + 2)
    if not parts:
        return b'', None
    starts, pieces, total = [], [], 0
    for off, chunk in zip(offsets, parts):
        for m in _CODE_PIECES.finditer(chunk):
            piece = m.group(0)
            if piece[:2] in (b'/*', b'//') or piece[:1] == b'#':
                piece = b' '
            starts.append((total, off + m.start()))
            pieces.append(piece)
            total += len(piece)
            if total > limit:
                return b'x' * (limit + 1), None
        pieces.append(b';')
        starts.append((total, off + len(chunk)))
        total += 1
    code = b''.join(pieces)
    keys = [k for k, _ in starts]

    def where(pos):
        k = bisect.bisect_right(keys, pos) - 1
        return starts[k][1] + (pos - keys[k]) if k >= 0 else 0
    return code, where


_CODE_PIECES = re.compile(rb"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|/\*.*?(?:\*/|\Z)|//[^\n]*|"""
                          rb"""\#(?!\[)[^\n]*|[^'"/\#]+|.""", re.S)
_STRINGS_ANY = re.compile(rb"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)
_FUNC_BEFORE = re.compile(rb'(?<![\w$>:])function\s+&?\s*$', re.I)


def _include_calls(data, limit):
    """[(start, paren)] of include/require whose operand is a call: include f('...').
    bytes.find first: most files have no include, the rest few."""
    out = []
    for word in (b'include', b'require'):
        i = data.find(word)
        n = 0
        while i >= 0 and n < 400 and len(out) < limit:
            n += 1
            m = _INCLUDE_CALL.match(data, i)
            if m and (i == 0 or data[i - 1] not in _WORD and data[i - 1:i] not in (b'$', b'>', b':')):
                out.append((i, m.end() - 1))
            i = data.find(word, i + 7)
    return out


_INCLUDE_CALL = re.compile(rb'(?<![\w$>:])(?:include|require)(?:_once)?\s*\(?\s*@?\s*[A-Za-z_]\w*\s*\(', re.I)


def _block_end(body):
    """End offset of the {...} block opening first in `body` (strings skipped; bounded)."""
    depth = 0
    for m in _SCOPE_TOKEN.finditer(body):
        c = m.group(0)
        if c == b'{':
            depth += 1
        elif c == b'}':
            depth -= 1
            if depth == 0:
                return m.end()
    return len(body)


def _shell_str(low):
    """_SHELL_STR on lower-cased text; literal byte tests first, since its alternation opens
    on many different bytes and makes sre try every position."""
    if b'/bin/' in low or b'cmd.exe' in low or b'pty.spawn' in low or b'dup2' in low or \
            b'/dev/tcp/' in low or _SH_I.search(low):
        return _SHELL_STR_L.search(low)
    return None


_SH_I = re.compile(rb'sh\s+-i')


# Lower-case twins of the re.I patterns that scan a whole buffer (see _lowered).
_SHELL_STR_L = _lowered(_SHELL_STR)
_SPELLED_CALL = re.compile(('(?<![a-z0-9_])(?:%s)\\s*\\(' % '|'.join(sorted(DANGEROUS_NAMES))).encode())


# $name( or ${expr}( or $$x( : a call of a function named at run time
_DYN_CALL = re.compile(rb'\$(?<![\w>:$]\$)(?:([A-Za-z_]\w*)|\{([^{}]{1,400})\})'
                       rb'\s*(?:/\*.{0,40}?\*/\s*)*\(', re.S)
_SANITIZED_CALL = re.compile(rb'(?i)(?:escapeshellarg|escapeshellcmd|intval|basename|(?:int))\s*\([^()]*\)')
# Tokens that matter for finding function bodies: strings, comments and HTML between
# '?>' and the next '<?' are skipped whole, so braces inside them do not count.
_SCOPE_TOKEN = re.compile(
    rb"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|//[^\n]*|\#[^\n]*|/\*.*?(?:\*/|\Z)"""
    rb"""|\?>.*?(?:<\?php|<\?=?|\Z)|(?<![\w$>:])(function)\b|[{};]""", re.S | re.I)


def _function_spans(data, limit=2000):
    """[(start, end)] of PHP function bodies, sorted by start (nested ones after their parent).

    A brace counter over the tokens above: approximate (heredocs are not understood) but
    bounded, and it tells a function's locals from the top-level code after it, which the
    word 'function' alone (JavaScript in the page has it too) cannot."""
    spans = []
    stack = []                               # [index in spans or None] per open brace
    pending = False
    first = data.find(b'<?')
    if first < 0:
        return spans
    for m in _SCOPE_TOKEN.finditer(data, first):
        if m.group(1) is not None:
            pending = m.start()
            continue
        c = m.group(0)
        if c == b'{':
            if pending is not False and len(spans) < limit:
                spans.append([pending, len(data)])
                stack.append(len(spans) - 1)
            else:
                stack.append(None)
            pending = False
        elif c == b'}':
            if stack:
                idx = stack.pop()
                if idx is not None:
                    spans[idx][1] = m.end()
        elif c == b';':
            pending = False                  # an abstract or interface method: no body
    return [tuple(s) for s in spans]


def _is_dangerous_name(arg):
    """Is a callback argument a dangerous function name ('assert', assert, 'as'.'sert')?"""
    if arg is None:
        return False
    bare = arg.strip().lower().lstrip(b'\\')
    if bare in _EXEC_BYTES:
        return True
    spelled = _static_string(arg)
    # decoders (array_map('base64_decode', ..)) are everyday callbacks: only names that run
    # code or commands count
    return bool(spelled) and spelled.strip().lower().lstrip(b'\\') in _EXEC_BYTES


def _spells_dangerous(text):
    low = text.strip().lower()
    return low in _DANGEROUS_BYTES or _SPELLED_CALL.search(low[:4096]) is not None


_TERNARY_LITERALS = re.compile(
    rb'\s*(?:\[[^\]\n]{0,80}\]\s*)*(?:(?:[=!]==?|[<>]=?)\s*(?:[\'"][^\'"\n]{0,80}[\'"]|[\w.]+)\s*|\)\s*)?'
    rb'\?(?![?>])\s*(?:[\'"][^\'"\n]{0,120}[\'"]|-?\d+|true|false|null)\s*:\s*'
    rb'(?:[\'"][^\'"\n]{0,120}[\'"]|-?\d+|true|false|null)\s*;', re.I)


_REQ_SUPER = re.compile(rb'\$_(?:GET|POST|REQUEST|COOKIE)\b|\$HTTP_(?:GET|POST)_VARS\b|'
                        rb'\$_SERVER\s*\[\s*[\'"]HTTP_(?!HOST\b)')


def _picks_literal(data, end):
    """Is the request value ending at `end` only the condition of a ternary that picks
    between two literals ($f = $_GET['d'] ? 'a' : 'b';)?  Then the variable holds one of
    the file's own constants, not a client-chosen value: the taint stops at the condition."""
    return _TERNARY_LITERALS.match(data, end, end + 600) is not None


def _static_string(expr):
    """The value of a constant string expression ('a'.'b', "\\x61", chr(97).chr(98),
    strrev('...'), base64_decode('...')), or None when it is not one."""
    if expr is None:
        return None
    e = expr.strip().rstrip(b';').strip()
    if not e:
        return None
    parts = []
    budget = decode.Budget(max_output=4096, max_layers=4, max_steps=40)
    i = 0
    while i < len(e) and len(parts) < 64:
        c = e[i:i + 1]
        if c in (b"'", b'"'):
            value, end = decode.read_literal(e, i, limit=2048)
            if value is None:
                return None
            parts.append(value)
            i = end
        elif e[i:i + 3].lower() == b'chr':
            m = re.match(rb'chr\s*\(\s*(0x[0-9a-f]+|\d+)\s*\)', e[i:], re.I)
            if not m:
                return None
            num = m.group(1)
            parts.append(bytes(((int(num, 16) if num[:2].lower() == b'0x' else int(num)) & 0xff,)))
            i += m.end()
        else:
            m = re.match(rb'([a-z0-9_]+)\s*\(\s*', e[i:], re.I)
            if not m or m.group(1).lower().decode() not in decode.DECODERS:
                return None
            inner_start = i + m.end()
            value, end = decode.read_literal(e, inner_start, limit=2048)
            if value is None:
                return None
            close = e.find(b')', end)
            if close < 0:
                return None
            value = decode.apply(m.group(1).lower().decode(), value, budget)
            if value is None:
                return None
            parts.append(value)
            i = close + 1
        while i < len(e) and e[i:i + 1] in b' \t\r\n':
            i += 1
        if i < len(e):
            if e[i:i + 1] != b'.':
                return None
            i += 1
            while i < len(e) and e[i:i + 1] in b' \t\r\n':
                i += 1
    return b''.join(parts)


def _args(data, paren, limit=2000):
    """Text between the '(' at `paren` and its matching ')', skipping strings (bounded)."""
    depth = 0
    stop = min(len(data), paren + limit)
    for m in _TOKEN.finditer(data, paren, stop):
        c = m.group(0)[:1]
        if m.group(2) is not None or c == b'(':
            depth += 1
        elif c == b')':
            depth -= 1
            if depth == 0:
                return data[paren + 1:m.start()]
    return data[paren + 1:stop]


def _nth_arg(args, n):
    """The n-th top-level argument of an argument list (bytes), or None; n=-1: the last."""
    if n < 0:
        last = None
        k = 0
        while k < 64:
            a = _nth_arg(args, k)
            if a is None:
                return last
            last, k = a, k + 1
        return last
    depth, idx, start = 0, 0, 0
    for m in _TOKEN.finditer(args):
        c = m.group(0)[:1]
        if m.group(2) is not None or c in (b'(', b'['):
            depth += 1
        elif c in (b')', b']'):
            depth -= 1
        elif c == b',' and depth == 0:
            if idx == n:
                return args[start:m.start()]
            idx += 1
            start = m.end()
    return args[start:] if idx == n else None


def _span(data, m, limit):
    """The original bytes of match `m` (found on a lower-cased copy), at most `limit`."""
    return data[m.start():min(m.end(), m.start() + limit)]


def _excerpt(data, pos):
    """The line around `pos`, centred on it when the line is long (minified code)."""
    if pos is None:
        return ''
    ls = data.rfind(b'\n', 0, pos) + 1
    le = data.find(b'\n', pos)
    le = len(data) if le < 0 else le
    if le - ls > EXCERPT:
        ls = max(ls, pos - 40)
        le = min(le, ls + EXCERPT)
    return data[ls:le].strip().decode('utf-8', 'surrogateescape')


_STRINGS = re.compile(rb"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")


def _in_literal(data, pos):
    """True when pos lies inside a quoted string that opens on its own line (approximate:
    strings spanning lines are not seen).  A name followed by '(' in a string is text:
    signature lists of malware scanners, documentation, SQL."""
    ls = data.rfind(b'\n', 0, pos) + 1
    line = data[ls:pos]
    if b"'" not in line and b'"' not in line:
        return False
    quote = None
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if quote is None:
            if c in (0x27, 0x22):
                quote = c
        elif c == 0x5c:
            i += 1
        elif c == quote:
            quote = None
        i += 1
    return quote is not None


def _in_comment(data, pos):
    """True when pos lies in a PHP comment (// or # to end of line, or /* ... */).

    Approximate: a '/*' only counts when no '?>' closes the PHP block in between, and
    only the part of the line after the last '<?' is looked at for // and #.
    """
    lo = max(0, pos - 65536)
    j = data.rfind(b'/*', lo, pos)
    tries = 0
    while j >= 0 and tries < 8 and data.find(b'//', data.rfind(b'\n', lo, j) + 1, j + 1) >= 0:
        tries += 1                         # '//****' : a line comment, not a block opener
        j = data.rfind(b'/*', lo, j)
    if j >= 0 and data.find(b'*/', j + 2, pos) < 0 and data.find(b'?>', j + 2, pos) < 0:
        return True
    ls = data.rfind(b'\n', 0, pos) + 1
    prefix = data[ls:pos]
    if b'//' not in prefix and b'#' not in prefix:
        return False
    k = prefix.rfind(b'<?')
    if k >= 0:
        prefix = prefix[k:]
    prefix = _STRINGS.sub(b'', prefix)
    return b'//' in prefix or b'#' in prefix


_PRINTABLE = frozenset(range(0x20, 0x7f)) | {9, 10, 13}


def _printable(chunk):
    return sum(1 for b in chunk if b in _PRINTABLE) >= len(chunk) * 0.9
