"""A PHP lexer: bytes in, PHP's own token classes out, so no rule can be fooled by layout.

Obfuscators hide names in comments between operators (``'sy' /*x*/ . 'stem'``), in escapes
(``"\\x73\\171stem"``), in heredocs and in inline HTML; byte regexes see none of it.  Rules
that read tokens see strings with their escapes resolved, comments gone and bare constants
as identifiers, whatever the spelling.

Hand-written because no library lexes PHP from Python (PHP's own ``token_get_all`` would
need a PHP interpreter, which must never run on a hostile file).  The lexer is total: any
byte sequence gives a token list (an unterminated string or comment runs to the end), it
never backtracks, and its work is linear in the input (one master regex pass; heredoc ends
are found with one search each).

Token: (kind, value, pos) with pos the byte offset in the buffer, kind one of
    V  variable            value: name without '$', as bytes ($$x gives op '$' then V x)
    I  identifier/keyword  value: lower-cased bytes (PHP names are case-insensitive);
                           the original spelling is at pos
    S  string              value: bytes with escapes resolved (no interpolation inside)
    T  template            value: tuple of parts, each bytes or ('$', name) / ('{', pos):
                           a double-quoted / heredoc / backtick string with variables in it
    B  backticks           value: like T (a shell command)
    N  number              value: int or float
    O  operator            value: bytes ('?>' is turned into ';')
    C  cast                value: the type, lower-cased bytes
    H  inline HTML         value: bytes
"""
import re

from newfilewatch.detect import decode

# PHP-mode master regex: whitespace is eaten in front of every token (no match of its own),
# groups are numbered so the loop dispatches on an int.  Order matters: comments before '/',
# casts before '(', '?>' before '?'.
_PHP = re.compile(
    rb"""[ \t\r\n\f\v]*(?:
        (\$[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)                                      # 1 var
       |(\\?[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*(?:\\[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)*)  # 2 id
       |('[^'\\]*(?:\\.[^'\\]*)*'?)                                                    # 3 sq
       |(\([ \t]*(?:int|integer|bool|boolean|float|double|real|string|binary|array|object|unset)[ \t]*\))  # 4 cast
       |((?://|\#(?!\[))[^\n?]*(?:\?(?!>)[^\n?]*)*)                                    # 5 line comment
       |(/\*)                                                                          # 6 block comment
       |(\?>\n?)                                                                       # 7 close tag
       |("[^"\\]*(?:\\.[^"\\]*)*"?)                                                    # 8 dq
       |(0[xX][0-9a-fA-F_]+|0[bB][01_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)  # 9 num
       |(`[^`\\]*(?:\\.[^`\\]*)*`?)                                                    # 10 backticks
       |(<<<[ \t]*(["']?)([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)\12\r?\n)           # 11 heredoc (12, 13)
       |(<<=|>>=|\*\*=|\.\.\.|<=>|===|!==|\?\?=|\?->|<<|>>|\*\*|==|!=|<>|<=|>=|&&|\|\||\+\+|--
            |\+=|-=|\*=|/=|\.=|%=|&=|\|=|\^=|->|=>|::|\?\?|[\x00-\xff])               # 14 op
    )""", re.X | re.S)

_OPEN_TAG = re.compile(rb'<\?(?:php(?=[\s;]|$)|=)?', re.I)
# An interpolated variable: $name, then at most one [..] or ->prop (PHP's simple syntax),
# or {$ ... } / ${ ... } (complex syntax: we keep the first variable name inside).
_INTERP = re.compile(rb'\$([A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)|\{\$|\$\{')
# escapes that spell printable ASCII (obfuscators spell names; binary tables are data)
_PRINTABLE_ESC = re.compile(rb'\\x[2-7][0-9a-fA-F]|\\(?:0?[4-7][0-7]|1[0-7][0-7])(?![0-7])')
_NAME = re.compile(rb'[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*')


class Stats(object):
    """What the lexer saw besides tokens; the obfuscation rules read these counts."""
    __slots__ = ('comments_inline', 'escapes', 'string_bytes', 'strings', 'tokens', 'inline_at')

    def __init__(self):
        self.comments_inline = 0   # block comments with code on both sides on one line
        self.escapes = 0           # \x.. and \ooo escapes in double-quoted strings
        self.string_bytes = 0
        self.strings = 0
        self.tokens = 0
        self.inline_at = []        # token index after each same-line block comment


def unescape_dq(body):
    """PHP's double-quote escapes applied to a literal body (no interpolation); the one
    implementation is decode.py's, shared with the byte rules."""
    return decode.unescape(body, b'"')


def unescape_sq(body):
    return decode.unescape(body, b"'")


def _interpolated(body, base, stats):
    """Split a double-quoted body into literal parts and variable references."""
    if b'$' not in body:
        if b'\\' in body:
            stats.escapes += len(_PRINTABLE_ESC.findall(body))
        return unescape_dq(body)
    parts = []
    i, n = 0, len(body)
    lit = []
    while i < n:
        m = _INTERP.search(body, i)
        if not m:
            lit.append(body[i:])
            break
        # a '$' preceded by an odd number of backslashes is escaped
        j = m.start()
        k = j
        while k > i and body[k - 1:k] == b'\\':
            k -= 1
        if (j - k) % 2 == 1:
            lit.append(body[i:m.start() + 1])
            i = m.start() + 1
            continue
        lit.append(body[i:j])
        if lit:
            chunk = b''.join(lit)
            if chunk:
                stats.escapes += len(_PRINTABLE_ESC.findall(chunk))
                parts.append(unescape_dq(chunk))
            lit = []
        if m.group(1) is not None:
            parts.append(('$', m.group(1)))
            i = m.end()
            # one [..] or ->prop belongs to the simple syntax; skip it
            if body[i:i + 1] == b'[':
                e = body.find(b']', i)
                i = e + 1 if 0 < e < i + 64 else i
            elif body[i:i + 2] == b'->':
                nm = _NAME.match(body, i + 2)
                if nm:
                    i = nm.end()
        else:
            # complex syntax: find the matching '}' (bounded), keep the first variable
            depth, k = 1, m.end()
            while k < n and depth:
                c = body[k:k + 1]
                if c == b'{':
                    depth += 1
                elif c == b'}':
                    depth -= 1
                k += 1
            inner = body[m.end() - (1 if m.group(0) == b'{$' else 0):k - 1]
            nm = _NAME.search(inner)
            parts.append(('$', nm.group(0)) if nm else ('{', base + j))
            i = k
    if lit:
        chunk = b''.join(lit)
        if chunk:
            parts.append(unescape_dq(chunk))
    if all(isinstance(p, bytes) for p in parts):
        return b''.join(parts)
    return tuple(parts)


def tokenize(data, stats=None, limit=None):
    """Tokens of `data` (bytes), HTML mode first as PHP starts.  `limit` caps the token count
    (the caller's work budget); the list then simply ends early."""
    stats = stats if stats is not None else Stats()
    toks = []
    append = toks.append
    n = len(data)
    pos = 0
    match = _PHP.match
    cap = limit if limit is not None else 1 << 62
    while pos < n and len(toks) < cap:
        # --- HTML mode ---
        m = _OPEN_TAG.search(data, pos)
        if not m:
            if pos < n:
                append(('H', data[pos:], pos))
            break
        if m.start() > pos:
            append(('H', data[pos:m.start()], pos))
        if m.group(0) == b'<?=':
            append(('I', b'echo', m.start()))
        pos = m.end()
        # --- PHP mode ---
        while pos < n:
            if len(toks) >= cap:
                break
            m = match(data, pos)
            if m is None:                        # only whitespace left
                pos = n
                break
            g = m.lastindex
            end = m.end()
            if g == 1:
                append(('V', data[m.start(1) + 1:end], m.start(1)))
            elif g == 2:
                word = m.group(2).lower()
                if word == b'__halt_compiler':      # PHP stops here: the rest is data
                    pos = n
                    break
                append(('I', word, m.start(2)))
            elif g == 14:
                append(('O', m.group(14), m.start(14)))
            elif g == 3:
                tok = m.group(3)
                body = tok[1:-1] if len(tok) > 1 and tok.endswith(b"'") and not _odd_tail(tok) else tok[1:]
                stats.strings += 1
                stats.string_bytes += len(body)
                append(('S', unescape_sq(body), m.start(3)))
            elif g == 8 or g == 10:
                tok = m.group(g)
                q = tok[:1]
                body = tok[1:-1] if len(tok) > 1 and tok.endswith(q) and not _odd_tail(tok) else tok[1:]
                stats.strings += 1
                stats.string_bytes += len(body)
                val = _interpolated(body, m.start(g) + 1, stats)
                if g == 10:
                    append(('B', val if isinstance(val, tuple) else (val,), m.start(g)))
                else:
                    append(('T' if isinstance(val, tuple) else 'S', val, m.start(g)))
            elif g == 9:
                append(('N', _number(m.group(9)), m.start(9)))
            elif g == 5:
                pass
            elif g == 6:
                cpos = m.start(6)
                e = data.find(b'*/', end)
                e = n if e < 0 else e + 2
                # a comment between two tokens of one line is an obfuscator's habit
                if toks and b'\n' not in data[toks[-1][2]:e] and \
                        data[e:e + 80].lstrip(b' \t')[:1] not in (b'', b'\r', b'\n') and \
                        len(stats.inline_at) < 10000:
                    stats.inline_at.append(len(toks))
                end = e
            elif g == 7:
                append(('O', b';', m.start(7)))
                pos = end
                break
            elif g == 4:
                append(('C', m.group(4)[1:-1].strip(b' \t').lower(), m.start(4)))
            elif g == 11:
                hpos = m.start(11)
                label = m.group(13)
                nowdoc = m.group(12) == b"'"
                # the closing label: at a line start (PHP 7.3+ allows indentation)
                em = re.compile(rb'^[ \t]*' + re.escape(label) + rb'\b', re.M).search(data, end)
                if em:
                    body = data[end:em.start()]
                    if body.endswith(b'\n'):
                        body = body[:-1]
                        if body.endswith(b'\r'):
                            body = body[:-1]
                    nxt = em.end()
                else:
                    body, nxt = data[end:], n
                stats.strings += 1
                stats.string_bytes += len(body)
                if nowdoc:
                    append(('S', body, hpos))
                else:
                    val = _interpolated(body, end, stats)
                    append(('T' if isinstance(val, tuple) else 'S', val, hpos))
                end = nxt
            pos = end
    stats.tokens = len(toks)
    # only comments that split an expression of strings and operators count
    nt = len(toks)
    for k in stats.inline_at:
        a = toks[k - 1] if 0 < k <= nt else None
        b = toks[k] if k < nt else None
        if a is not None and b is not None and (a[0] in 'SNV' or a[1] in _SPLITTING) and \
                (b[0] in 'SNV' or b[1] in _SPLITTING):
            stats.comments_inline += 1
    return toks


_SPLITTING = frozenset((b'.', b'^', b'|', b'&', b'~', b'[', b']', b'{', b'}', b'+', b'-', b'*'))


def _odd_tail(tok):
    """A closing quote preceded by an odd run of backslashes is escaped: the string is
    unterminated and the regex ran to the end of the buffer."""
    k = len(tok) - 2
    run = 0
    while k > 0 and tok[k:k + 1] == b'\\':
        run += 1
        k -= 1
    return run % 2 == 1


def _number(text):
    t = text.replace(b'_', b'')
    try:
        if t[:2] in (b'0x', b'0X'):
            return int(t[2:], 16)
        if t[:2] in (b'0b', b'0B'):
            return int(t[2:], 2)
        if b'.' in t or b'e' in t or b'E' in t:
            return float(t)
        if len(t) > 1 and t[:1] == b'0':
            try:
                return int(t, 8)
            except ValueError:
                return int(t)
        return int(t)
    except (ValueError, OverflowError):
        return 0
