"""The C-speed gates: decide cheaply whether a PHP buffer deserves the deep rules at all.

Most files an inotify watch sees are benign application code, so the expensive analysis must
run only on files that call something telling.  One pass of ONE regex over the reversed,
lower-cased file finds every call of interest: reversed, each candidate starts at a '(' so the
regex engine only wakes up at parentheses, and a trie of the reversed names rejects almost all
of them on the first byte.
"""
import re

from newfilewatch.detect.calls import CALLBACKS, SQL_LOGINS, SQL_QUERIES, WRITES, _ALL_CALLS
from newfilewatch.detect.phptext import (
    _FRAMEWORK_INPUT, _GAP, _hex_code, _reversed_trie, _split_pieces)


# Applied to data[::-1].lower(): '(' then optional blanks then a reversed name, and the byte
# before the name (after it, reversed) must not continue an identifier, a variable ($),
# a method (->name, ::name).
_CALL_RE = re.compile(('\\(%s(%s)(?![a-z0-9_$>:])'
                       % (_GAP, _reversed_trie([n[::-1] for n in _ALL_CALLS]))).encode())

_GATE_NAMES = ('eval', 'assert', 'system', 'exec', 'passthru', 'shell_exec', 'popen', 'proc_open',
               'pcntl_exec', 'expect_popen', 'create_function', 'base64_decode', 'gzinflate',
               'gzuncompress', 'gzdecode', 'str_rot13', 'convert_uudecode', 'fsockopen', 'pfsockopen',
               'socket_create', 'stream_socket_client', 'move_uploaded_file')
_GATE_RE = re.compile(('\\(%s(%s)(?![a-z0-9_$>:])'
                       % (_GAP, _reversed_trie([n[::-1] for n in _GATE_NAMES]))).encode())
# Calls that only matter when request input is around: callbacks, dynamic calls ($f(, $a[1](,
# ${..}(), includes, writes and mail.  Also matched on the reversed, lower-cased buffer.
_WEAK_NAMES = tuple(CALLBACKS) + tuple(WRITES) + (
    'preg_replace', 'preg_replace_callback', 'mb_ereg_replace', 'mb_eregi_replace',
    'include', 'require', 'include_once', 'require_once', 'mail', 'fwrite', 'fputs',
    'extract', 'parse_str') + tuple(SQL_QUERIES) + tuple(SQL_LOGINS)
_WEAK_RE = re.compile(('\\(\\s{0,20}(?:%s|\\]|\\}|[a-z0-9_]+\\$)(?![a-z0-9_$>:])'
                       % _reversed_trie([n[::-1] for n in set(_WEAK_NAMES)])).encode())
_INPUT_RE = re.compile(rb'\$(?:_(?:GET|POST|REQUEST|COOKIE|FILES|SERVER|ENV)|HTTP_|\{|\$|GLOBALS)')

# include/require of a variable: `include $x`, `require_once($x . '.php')` (reversed).
_INCLUDE_VAR_RE = re.compile(rb'\$[\s(]{0,10}(?:ecno_)?(?:edulcni|eriuqer)(?![a-z0-9_])')

# preg_replace( '<delim>...<delim>[flags with e]' , reversed and lower-cased
_PREG_E_REV = re.compile(rb',\s*([\'"])[a-z]{0,6}e[a-z]{0,6}[^\'"\n]{1,400}\1\s*\(\s*ecalper_gerp(?![a-z0-9_])')


_FORM_SINK_RE = re.compile(('\\(%s(%s)(?![a-z0-9_$>:])' % (_GAP, _reversed_trie(
    [n[::-1] for n in ('unlink', 'rmdir', 'rename', 'chmod', 'copy', 'mysql_query', 'mysqli_query',
                       'mail', 'readfile', 'opendir', 'scandir', 'file_put_contents')]))).encode())


def _worth_deep_look(data, rev):
    """C-speed triage: most PHP never calls anything that runs code or commands, decodes,
    opens sockets or takes uploads, and hands no request input to a callback, a dynamic call,
    an include, a write or mail; such a file cannot match a PHP rule, so it skips the
    (Python-speed) analysis.  Every scan here opens on a literal byte ('(' of the reversed
    buffer, '$', '<') so the regex engine only wakes up at those."""
    if _GATE_RE.search(rev):
        return True
    if b'`' in data and (b'`$' in data or b'`{$' in data):
        return True                          # backticks around a variable: an OS command
    if b'ecalper_gerp' in rev and _PREG_E_REV.search(rev):
        return True                          # preg_replace('/../e', ...) evaluates code
    if (len(data) <= 16384 or b'verrts' in rev or _split_pieces(data)) and _DYN_REV.search(rev):
        return True                          # a function named at run time (maybe from pieces)
    if (b'->' in data and _PROP_CALL_REV.search(rev)) and _INPUT_RE.search(data):
        return True                          # ($obj->prop)(..): a callable held in a property
    first = _INPUT_RE.search(data)
    if first is None and b'->' in data:
        first = _FRAMEWORK_INPUT.search(data)  # $request->get_param('x'), ->input('x')
    if first is not None and len(data) <= 8192 and _hex_code(data, 1):
        return True                          # code kept as a bare hex string
    if first is not None or b'tupni//:php' in rev or b'sredaeh' in rev:
        if _input_near_weak(data, rev, first):
            return True
    if _FORM_TAG.search(data) and _FORM_SINK_RE.search(rev):
        return True                          # a page whose own form may feed file/SQL calls
    # a dropper: a literal URL fetched (and, the full analysis checks, written to disk)
    return _URL_ARG.search(data) is not None and _WEAK_RE.search(rev) is not None


_FORM_TAG = re.compile(rb'<(?i:form|input)')
# on the reversed, lower-cased buffer: '($obj->prop)(' and '->__invoke('
_PROP_CALL_REV = re.compile(rb'\(\s*\)\s*[a-z0-9_]+\s*>-\s*[a-z0-9_]+\$|\(\s*ekovni__\s*>-')
_URL_ARG = re.compile(rb'\([\'"](?i:http)')
# _DYN_CALL on the reversed, lower-cased buffer: '(' [comments] name '$' | '}' .. '{$'
# (the name is one run of word bytes checked afterwards: '[a-z0-9_]*[a-z_]\$' backtracks
# through every name that is not a variable's)
_DYN_REV = re.compile(rb'\(\s*(?:/\*.{0,40}?\*/\s*)*(?:[a-z0-9_]+\$(?<=[a-z_]\$)|\}[^{}]{1,400}\{\$)(?![\w>:$])',
                      re.S)


# How far request input may sit from a weak call (callback, write, include, dynamic call,
# backtick) and still be worth tracing: the taint walk follows a value only through the
# statements around it, so input kilobytes away from every such call cannot reach one.
_NEAR_BEFORE = 1500
_NEAR_AFTER = 1500


def _input_near_weak(data, rev, first):
    """Does request input sit near a weak sink?  Each input site costs bounded regex
    searches of the buffer around it; windows never overlap, so no byte is scanned twice
    and the number of sites looked at is capped."""
    n = len(data)
    incl = b'edulcni' in rev or b'eriuqer' in rev

    def near(lo, hi):
        return _WEAK_RE.search(rev, n - hi, n - lo) is not None or \
            data.find(b'`', lo, hi) >= 0 or \
            incl and _INCLUDE_VAR_RE.search(rev, n - hi, n - lo) is not None

    if n <= _NEAR_BEFORE + _NEAR_AFTER:
        return near(0, n)
    done = 0                                   # data[:done] has been searched already
    sites = 0
    m = first
    while m is not None and sites < 2000:
        sites += 1
        p = m.start()
        lo, hi = max(done, p - _NEAR_AFTER), min(n, p + _NEAR_BEFORE)
        if lo < hi and near(lo, hi):
            return True
        done = max(done, hi)
        m = _INPUT_RE.search(data, max(p + 1, done - _NEAR_AFTER))
    for needle in (b'tupni//:php', b'sredaehllateg', b'sredaeh_tseuqer'):
        j = rev.find(needle)
        k = 0
        while j >= 0 and k < 200:
            k += 1
            p = n - j - len(needle)
            if near(max(0, p - _NEAR_AFTER), min(n, p + _NEAR_BEFORE)):
                return True
            j = rev.find(needle, j + 1)
    return False


# Triage for small_script on the reversed, lower-cased buffer: every _SMALL_DYN match ends
# in a '(' preceded (gaps of blanks and comments allowed: small_script reads the code with
# comments blanked) by a variable, a subscript/brace, or one of its function names.
_SMALL_DYN_NAMES = ('__invoke', 'array_diff_assoc', 'array_diff_key', 'array_diff_uassoc', 'array_diff_ukey', 'array_filter', 'array_intersect_assoc', 'array_intersect_key', 'array_intersect_uassoc', 'array_intersect_ukey', 'array_map', 'array_udiff', 'array_udiff_assoc', 'array_udiff_key', 'array_udiff_uassoc', 'array_udiff_ukey', 'array_uintersect', 'array_uintersect_assoc', 'array_uintersect_key', 'array_uintersect_uassoc', 'array_uintersect_ukey', 'array_walk', 'assert', 'call_user_func', 'call_user_func_array', 'create_function', 'eval', 'invoke', 'invokeargs', 'iterator_apply', 'mb_ereg_replace', 'mb_eregi_replace', 'newinstance', 'newinstanceargs', 'ob_start', 'preg_replace_callback', 'register_shutdown_function', 'register_tick_function', 'uasort', 'uksort', 'usort')
_SMALL_GATE_REV = re.compile(
    ('\\((?:\\s|/\\*.{0,4000}?\\*/|\\n[^\\n]{0,4000}?(?://|\\#))*(?:[\\])}]|[a-z0-9_]+\\$|(?:%s)(?![a-z0-9_$]))'
     % _reversed_trie([n[::-1] for n in _SMALL_DYN_NAMES])).encode(), re.S)
# Byte gate for symbol_code: a variable named of underscores, or ${..}.
_SYMBOL_HINT = re.compile(rb'\$(?:_(?:[_(=\[{.)]| =)|\{)')
# _DYNCALL on the reversed, lower-cased buffer: '(' name '$', or '$' '(' ']'/')'
_DYNCALL_REV = re.compile(rb'\(\s*[a-z0-9_]+\$(?<=[a-z_]\$)|\$\s*\(\s*[\])]')
