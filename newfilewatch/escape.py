"""Make hostile file names safe to show: one file is always one line, bytes are never lost.

Names on Linux are arbitrary bytes except '/' and NUL.  Attackers choose them, so a name can
hold a newline (to forge a second log line), ESC sequences (to rewrite an admin's terminal),
CR/LF (to inject mail headers) or bytes that are not UTF-8.  Python's codecs have no
"escape control characters but keep printable Unicode" mode, so this is written by hand.
"""
import os

_NAMED = {0x5c: '\\\\', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t'}


def _escape_char(ch):
    o = ord(ch)
    if o in _NAMED:
        return _NAMED[o]
    if 0xdc80 <= o <= 0xdcff:            # a byte that was not UTF-8 (surrogateescape)
        return '\\x%02x' % (o - 0xdc00)
    if ch.isprintable():
        return ch
    if o < 0x100:                        # C0/C1 controls, DEL
        return '\\x%02x' % o if o < 0x80 else '\\u%04x' % o
    # everything else Unicode calls unprintable: line separators, bidi overrides (which can
    # make a name read backwards), private use, unassigned code points
    return '\\u%04x' % o if o <= 0xffff else '\\U%08x' % o


def escape_name(name):
    """Return `name` (str from os.fsdecode, or bytes) as printable one-line text.

    Backslash is escaped too, so the result is unambiguous: a real file named ``a\\nb``
    and one with a newline in it print differently.
    """
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if name.isprintable() and '\\' not in name:
        return name                      # the common case costs one C-level scan
    return ''.join(_escape_char(c) for c in name)


def unescape_name(text):
    """Invert escape_name (used by tests and by tools that read our logs back)."""
    out, i = bytearray(), 0
    while i < len(text):
        c = text[i]
        if c != '\\':
            out += c.encode('utf-8', 'surrogateescape')
            i += 1
            continue
        n = text[i + 1]
        if n in 'nrt\\':
            out += {'n': b'\n', 'r': b'\r', 't': b'\t', '\\': b'\\'}[n]
            i += 2
        elif n == 'x':
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif n == 'u':
            out += chr(int(text[i + 2:i + 6], 16)).encode('utf-8', 'surrogatepass')
            i += 6
        elif n == 'U':
            out += chr(int(text[i + 2:i + 10], 16)).encode('utf-8', 'surrogatepass')
            i += 10
        else:
            raise ValueError('bad escape at %d in %r' % (i, text))
    return os.fsdecode(bytes(out))


def one_line(text, width):
    """Escape arbitrary text (e.g. a line of a scanned file) and cut it to `width` characters."""
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'surrogateescape')
    text = escape_name(text)
    return text if len(text) <= width else text[:max(width - 3, 0)] + '...'
