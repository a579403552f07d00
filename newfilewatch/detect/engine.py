"""Decide whether a file's bytes look like a webshell, and say why (rule, line, excerpt).

Pure core: bytes and a name in, a Verdict out; no I/O except the optional YARA library.

Speed comes from touching most bytes only with C-speed scans:
  * one pass of ONE regex over the reversed, lower-cased file finds every call of interest
    (eval(, system(, base64_decode(, mail(, ...): reversed, each candidate starts at a '('
    so the regex engine only wakes up at parentheses, and a trie of the reversed names
    rejects almost all of them on the first byte;
  * `bytes.find` loops locate request input ($_GET, $_POST, ...);
  * everything else (context of a call, its arguments, taint of variables, decoding)
    runs only around those few positions.
Rules follow behaviour: where request input ENDS UP (the calls and statements enclosing
it), what decoded literals contain, what sockets are handed to, which handlers an
.htaccess installs.
"""
import bisect
import binascii
import collections
import itertools
import logging
import os
import re
import signal
import threading
import time

from newfilewatch.detect import decode
from newfilewatch import escape
from newfilewatch import model
from newfilewatch.detect import weights as signatures
from newfilewatch import yarascan
from newfilewatch.detect import analysis as token_analysis
from newfilewatch.detect import behaviour
from newfilewatch.detect import fold as token_fold
from newfilewatch.detect import obfuscation

Verdict = collections.namedtuple('Verdict', 'score suspicious hits')

MAX_HITS_PER_RULE = 5
MAX_HITS = 40
EXCERPT = 160
MAX_TOKEN_BYTES = 2 << 20

IMAGE_EXTS = frozenset('jpg jpeg png gif ico bmp webp tif tiff svg avif heic psd'.split())
TEXT_EXTS = frozenset('txt log csv md rst json xml yml yaml ini conf css map po pot'.split())
PHP_EXTS = frozenset('php phtml php3 php4 php5 php7 php8 pht phar inc phps'.split())
CGI_EXTS = frozenset('pl pm py cgi sh bash rb'.split())
ASP_EXTS = frozenset('asp aspx ashx asmx asa cer cdx ascx'.split())
JSP_EXTS = frozenset('jsp jspx jspf'.split())
CONFIG_NAMES = frozenset(('.htaccess', '.user.ini', 'php.ini', 'htaccess'))

# --- calls we care about ------------------------------------------------------------------
CODE_SINKS = frozenset(('eval', 'assert', 'create_function'))
OS_SINKS = frozenset(('system', 'exec', 'shell_exec', 'passthru', 'popen', 'proc_open',
                      'pcntl_exec', 'expect_popen'))
DECODERS = frozenset(decode.DECODERS) - {'stripslashes'}
# callback-taking function -> index of the callback argument
CALLBACKS = {'call_user_func': 0, 'call_user_func_array': 0, 'array_map': 0,
             'array_filter': 1, 'array_walk': 1, 'array_walk_recursive': 1, 'array_reduce': 1,
             'usort': 1, 'uasort': 1, 'uksort': 1, 'ob_start': 0,
             'register_shutdown_function': 0, 'register_tick_function': 0,
             'iterator_apply': 1, 'forward_static_call': 0, 'forward_static_call_array': 0,
             'set_error_handler': 0, 'set_exception_handler': 0, 'header_register_callback': 0,
             'preg_replace_callback': 1, 'mb_ereg_replace_callback': 1, 'spl_autoload_register': 0,
             # the callback comes last (-1)
             'array_udiff': -1, 'array_udiff_assoc': -1, 'array_udiff_uassoc': -1,
             'array_uintersect': -1, 'array_uintersect_assoc': -1, 'array_uintersect_uassoc': -1,
             'array_diff_ukey': -1, 'array_diff_uassoc': -1, 'array_intersect_ukey': -1,
             'array_intersect_uassoc': -1}
# write function -> index of the destination argument
WRITES = {'move_uploaded_file': 1, 'copy': 1, 'file_put_contents': 0, 'fopen': 0, 'rename': 1}
# procedural SQL calls -> index of the query argument (applications go through a database
# layer; a page handing the client's text straight to one of these is a SQL console)
SQL_QUERIES = {'mysql_query': 0, 'mysql_db_query': 1, 'mysqli_query': 1, 'mysql_unbuffered_query': 0,
               'pg_query': 1, 'mssql_query': 0, 'sqlsrv_query': 1, 'sqlite_query': 1, 'oci_parse': 1}
# connect calls -> index of the user argument: credentials typed into the page itself
SQL_LOGINS = {'mysql_connect': 1, 'mysql_pconnect': 1, 'mysqli_connect': 1, 'mssql_connect': 1,
              'mysqli_real_connect': 2}
SOCKETS = frozenset(('fsockopen', 'pfsockopen', 'socket_create', 'socket_connect',
                     'stream_socket_client', 'stream_socket_server'))
FETCHES = frozenset(('file_get_contents', 'fopen', 'curl_init', 'copy', 'readfile'))
OTHER_CALLS = frozenset(('mail', 'chr', 'getenv', 'preg_replace', 'fwrite', 'fputs', 'getallheaders',
                         'apache_request_headers', 'ini_get', 'extract', 'parse_str'))
# File-system, database and mail calls: harmless alone, telling when the page's own form
# fields choose their arguments (register_globals) or when one page bundles many of them.
FS_SINKS = frozenset(('unlink', 'rmdir', 'rename', 'chmod', 'chown', 'copy', 'fopen', 'mkdir',
                      'file_put_contents', 'readfile', 'move_uploaded_file', 'touch', 'opendir',
                      'scandir', 'highlight_file', 'show_source', 'file', 'mysql_query',
                      'mysqli_query', 'pg_query', 'mssql_query', 'mysql_db_query', 'mail',
                      'fwrite', 'fputs', 'file_get_contents'))
_ALL_CALLS = (CODE_SINKS | OS_SINKS | DECODERS | set(CALLBACKS) | set(WRITES) | SOCKETS |
              FETCHES | OTHER_CALLS | FS_SINKS | set(SQL_QUERIES) | set(SQL_LOGINS))
# Function names whose appearance spelled indirectly is a tell.
DANGEROUS_NAMES = frozenset(CODE_SINKS | OS_SINKS | {
    'base64_decode', 'gzinflate', 'gzuncompress', 'str_rot13', 'call_user_func',
    'call_user_func_array', 'preg_replace', 'file_put_contents', 'move_uploaded_file',
    'fsockopen', 'array_map', 'ob_start', 'register_shutdown_function', 'fwrite'})
# Functions whose result no longer carries the attacker's raw text.
SANITIZERS = frozenset(('escapeshellarg', 'escapeshellcmd', 'intval', 'floatval', 'boolval',
                        'basename', 'htmlspecialchars', 'htmlentities', 'strip_tags',
                        'urlencode', 'rawurlencode', 'md5', 'sha1', 'crc32', 'hash',
                        'preg_quote', 'addslashes', 'is_numeric', 'isset', 'empty', 'in_array',
                        'array_key_exists', 'count', 'strlen', 'is_array', 'is_string',
                        'filter_var', 'json_encode', 'ctype_digit', 'ctype_alnum', 'realpath',
                        'preg_match', 'sizeof', 'is_file', 'file_exists', 'is_dir', 'abs',
                        'max', 'min', 'round', 'number_format', 'sprintf_int', 'checkdate',
                        'mysql_real_escape_string', 'mysqli_real_escape_string', 'esc_attr',
                        'esc_html', 'sanitize_text_field', 'sanitize_file_name', 'absint',
                        'settype', 'gettype', 'var_dump', 'print_r', 'strcmp', 'hash_equals',
                        'password_verify', 'array_search', 'preg_replace_callback'))
# Functions that pass the attacker's text through (taint survives them).
PASS_THROUGH = frozenset(DECODERS | {
    '', 'stripslashes', 'trim', 'rtrim', 'ltrim', 'chop', 'strtolower', 'strtoupper',
    'explode', 'implode', 'join', 'str_replace', 'substr', 'unserialize', 'json_decode',
    'array_values', 'reset', 'current', 'end', 'array_pop', 'array_shift', 'sprintf',
    'html_entity_decode', 'file_get_contents', 'getallheaders', 'apache_request_headers',
    'array_keys', 'str_split', 'preg_split', 'nl2br', 'strval', 'urldecode', 'ucfirst'})

_WORD = frozenset(b'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_')


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

# Applied to data[::-1].lower(): '(' then optional blanks then a reversed name, and the byte
# before the name (after it, reversed) must not continue an identifier, a variable ($),
# a method (->name, ::name).
_CALL_RE = re.compile(('\\(%s(%s)(?![a-z0-9_$>:])'
                       % (_GAP, _reversed_trie([n[::-1] for n in _ALL_CALLS]))).encode())

_SOURCE_AT = re.compile(
    rb'\$_(GET|POST|REQUEST|COOKIE|FILES)\b'
    rb'|\$_SERVER\s*\[\s*[\'"]?(HTTP_[A-Z0-9_]+|QUERY_STRING|PHP_AUTH_\w+)'
    rb'|\$_SERVER\s*\[\s*(\$\w+)\s*\]'       # a key chosen at run time: a header, maybe
    rb'|\$_(ENV)\b(?=\s*\[)')
_HTTP_VARS = re.compile(rb'\$HTTP_(GET_VARS|POST_VARS|COOKIE_VARS|RAW_POST_DATA|POST_FILES)\b')
_GLOBALS_SRC = re.compile(rb'\$GLOBALS\s*\[\s*[\'"](_GET|_POST|_REQUEST|_COOKIE|_FILES)[\'"]\s*\]')
_PHP_INPUT = re.compile(rb'php://input', re.I)
# Tokens of a statement prefix: whole strings, a call opener, a bare paren/bracket, commas,
# backticks, and a lone quote (the position lies inside that string).
_TOKEN = re.compile(
    rb"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|(->|::)?(\$?\\?[A-Za-z_][A-Za-z0-9_\\]*)\s*\(|[()\[\],`'"]""",
    re.S)
_ASSIGN_HEAD = re.compile(rb'\s*(?:@\s*)?\$([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[[^\]\n]{0,80}\]\s*)*'
                          rb'(?:\.|\?\?|\+)?=(?![=>])')
_COND_ASSIGN = re.compile(rb'\s*\(?\s*@?\s*\$([A-Za-z_]\w*)\s*=(?![=>])\s*@?\s*')
_HEAD_KEYWORD = re.compile(rb'\s*@?\s*(include_once|require_once|include|require|foreach|'
                           rb'echo|print|return)\b', re.I)
_FOREACH_AS = re.compile(rb'\s*(?:\[[^\]\n]{0,80}\]\s*)*\)?\s*as\s+\$([A-Za-z_]\w*)'
                         rb'(?:\s*=>\s*\$([A-Za-z_]\w*))?', re.I)
_CALLABLE_AFTER = re.compile(rb'\s*(?:\[[^\]\n]{0,80}\]\s*){0,4}\(')
_SUBSCRIPT_AFTER = re.compile(rb'\s*\[[^\]\n]{0,80}\]')
_DECODER_IN = re.compile(('(?<![a-z0-9_])(?:%s)\\s*\\(' % '|'.join(sorted(DECODERS))).encode())
_VAR = re.compile(rb'\$([A-Za-z_][A-Za-z0-9_]*)')
_PREG_E = re.compile(rb'^\s*([\'"])(.)', re.S)
_CONFIG_LINE = re.compile(
    rb'^[ \t]*(addtype|addhandler|sethandler|forcetype|php_value|php_admin_value|'
    rb'auto_prepend_file|auto_append_file|<files(?:match)?|</files(?:match)?|'
    rb'<directory|</directory)\b[ \t]*(.*)$', re.I | re.M)
_LOOP_BEFORE = re.compile(rb'(?<![a-z0-9_$])(foreach|for|while|do)\s*[({]')
_SCRIPT_TAG = re.compile(rb'<script[^>]{0,200}(?:runat\s*=\s*["\']?server|language\s*=\s*["\']?php)',
                         re.I)
_ASP_EXEC = re.compile(
    rb'(?:\b(?:eval|execute|executeglobal)\b\s*\(?[^\n]{0,60}?\brequest\b'
    rb'|\brequest\s*(?:\.\s*(?:item|form|querystring))?\s*[\[(][^\n]{0,200}?'
    rb'(?:\beval\b|\bexecute\b|process\.start|wscript\.shell))', re.I)
_ASP_SHELL = re.compile(rb'wscript\.shell|shell\.application|process\.start|processstartinfo|'
                        rb'cmd\.exe|cmd\s*/c', re.I)
_ASP_REQUEST = re.compile(rb'\brequest\s*(?:\.\s*\w+\s*)?[\[(.]', re.I)
_JSP_EXEC = re.compile(rb'getruntime\s*\(\s*\)\s*\.\s*exec|processbuilder|defineclass|'
                       rb'scriptengine|\.exec\s*\(\s*request', re.I)
_JSP_REQUEST = re.compile(rb'request\s*\.\s*(?:getparameter|getinputstream|getheader|getreader|'
                          rb'getpart)', re.I)
# ASP request input, server objects that reach files, and what marks real ASP server code.
# Case-sensitive literals first (C-speed scan): every rule below needs one of these.
_SERVER_HINTS = (b'<%@', b'Request.', b'request.', b'Request(', b'request(', b'REQUEST.', b'REQUEST(',
                 b'Request[', b'request[', b'Request (', b'request (')
_ASP_REQ = re.compile(rb'\brequest\s*\.\s*(?:form|querystring|item|cookies|binaryread|files|params|'
                      rb'inputstream)\b|\brequest\s*\(\s*["\'\w]|\brequest\s*\[\s*["\']', re.I)
_ASP_FS = re.compile(rb'scripting\.filesystemobject|adodb\.stream|\bstreamwriter\b|'
                     rb'system\.io\.file\b|\bfile\s*\.\s*(?:writealltext|delete|copy|move)\s*\(|'
                     rb'\.saveas\s*\(|\bfso\s*\.\s*(?:createtextfile|deletefile|opentextfile)|'
                     rb'(?<![.\w])(?:execute|executeglobal)\s*[(\s]', re.I)
_ASP_SERVER = re.compile(rb'<%@\s*(?:page|language|webhandler|import)\b[^%]{0,200}'
                         rb'|\bserver\s*\.\s*(?:createobject|mappath)\s*\('
                         rb'|<script[^>]{0,100}runat\s*=\s*["\']?server'
                         rb'|<%[^%]{0,400}?\bresponse\s*\.\s*(?:write|redirect|binarywrite)\b', re.I)
# JSP: a page directive or a scriptlet that reads request parameters, and file writers.
_JSP_PAGE = re.compile(rb'<%@\s*page\b[^%]{0,400}|<%!?[^%]{0,400}?\brequest\s*\.\s*getparameter', re.I)
_JSP_FS = re.compile(rb'\bnew\s+(?:java\.io\.)?(?:fileoutputstream|filewriter|randomaccessfile|'
                     rb'printwriter\s*\(\s*new\s+filewriter)\s*\(|\.delete\s*\(\s*\)|'
                     rb'\.renameto\s*\(|files\s*\.\s*(?:write|delete|copy|move)\s*\(', re.I)
_JSP_RT_EXEC = re.compile(rb'\b\w+\s*\.\s*exec\s*\(', re.I)
# The ASP/JSP patterns above are written in lower case and run over a lower-cased copy:
# re.I makes sre compare every byte through a case table, several times slower.
for _name in ('_ASP_EXEC', '_ASP_SHELL', '_ASP_REQUEST', '_ASP_REQ', '_ASP_SERVER', '_ASP_FS',
              '_JSP_REQUEST', '_JSP_EXEC', '_JSP_RT_EXEC', '_JSP_PAGE', '_JSP_FS'):
    globals()[_name] = re.compile(globals()[_name].pattern, globals()[_name].flags & ~re.I)
del _name
_CGI_REQUEST = re.compile(rb'query_string|content_length|request_method|\bparam\s*\(|'
                          rb'cgi\.fieldstorage|\$_(?:get|post)|request\.(?:args|form)|'
                          rb'cgi->new|new\s+cgi|http_user_agent|path_info', re.I)
_CGI_EXEC = re.compile(rb'\bsystem\s*\(|\bexec\s*[(\'"]|`|\bqx\s*[({/|]|\bopen\s*\([^)\n]{0,80}\|'
                       rb'|os\.system|os\.popen|subprocess|commands\.getoutput|pty\.spawn|'
                       rb'\beval\b|\$\(', re.I)
_CGI_SOCKET = re.compile(rb'io::socket|\bsocket\s*\(|socket\.socket|/dev/tcp/|\bnc\b\s+-|'
                         rb'ncat\s|socat\s|tcpsocket', re.I)
def _lowered(rx):
    """`rx` (re.I, bytes) for a lower-cased copy of the text: the same matches at the same
    offsets, without re.I, which makes sre compare every byte through a case table and
    loses the literal-prefix scan.  Letters after a backslash (\\b, \\s) stay as they are."""
    pat = re.sub(rb'\\\\.|[A-Z]', lambda m: m.group(0) if m.group(0)[:1] == b'\\' else m.group(0).lower(),
                 rx.pattern)
    return re.compile(pat, rx.flags & ~re.I)


_SHELL_STR = re.compile(rb'/bin/(?:ba|z|k|c|tc|da)?sh\b|cmd\.exe|pty\.spawn|sh\s+-i\b|'
                        rb'os\.dup2|\bdup2\b|/dev/tcp/', re.I)
_IMAGE_MARK = re.compile(rb'<\?(?:php\b|=|\s)', re.I)


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
# '$' first: the regex engine skips to each '$' at C speed (an alternation opening on letters
# would try every position).  Superglobals are case-sensitive in PHP.
# Request accessors of WordPress REST and Laravel: the same client values as superglobals.
_FRAMEWORK_INPUT = re.compile(rb'->\s*(get_params?|get_json_params|get_body_params|get_query_params|'
                              rb'get_file_params|input)\s*\(')
_INPUT_RE = re.compile(rb'\$(?:_(?:GET|POST|REQUEST|COOKIE|FILES|SERVER|ENV)|HTTP_|\{|\$|GLOBALS)')

# include/require of a variable: `include $x`, `require_once($x . '.php')` (reversed).
_INCLUDE_VAR_RE = re.compile(rb'\$[\s(]{0,10}(?:ecno_)?(?:edulcni|eriuqer)(?![a-z0-9_])')

# preg_replace( '<delim>...<delim>[flags with e]' , reversed and lower-cased
_PREG_E_REV = re.compile(rb',\s*([\'"])[a-z]{0,6}e[a-z]{0,6}[^\'"\n]{1,400}\1\s*\(\s*ecalper_gerp(?![a-z0-9_])')


# Three or more short quoted pieces joined with dots: a name spelled from fragments.
_SPLIT_NEXT = re.compile(rb'\w{1,6}([\'"])\.\1')


# A quoted literal made only of hex digit pairs, long enough to hold a statement.
_HEX_LITERAL = re.compile(rb'[\'"]((?:[0-9a-fA-F]{2}){10,4096})[\'"]')
_CODE_LIKE = re.compile(rb'^[\x20-\x7e\t\r\n]*[a-zA-Z_]\w*\s*\([\x20-\x7e\t\r\n]*$')


_B64_NAME = re.compile(rb'[\'"]([A-Za-z0-9+/]{6,40}={0,2})[\'"]')
_HEX_NAME = re.compile(rb'[\'"]((?:[0-9a-fA-F]{2}){3,40})[\'"]')


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


# An argument that is one value (maybe unescaped or trimmed), not a query built around it.
_WHOLE_VALUE = re.compile(rb'\s*@?\s*(?:(?:stripslashes|trim|urldecode|base64_decode|'
                          rb'html_entity_decode)\s*\(\s*)*("?)\$\w+(?:\s*\[[^\]]{1,40}\])*\1[\s)]*$', re.I)
# The account list read as a file: the first step of every config grabber / symlinker.
_PASSWD_READ = re.compile(rb'(?i:file|fopen|file_get_contents|readfile|highlight_file|show_source|'
                          rb'include|require|include_once|require_once|copy|fread)\s*\(\s*'
                          rb'[\'"]/etc/(?:passwd|shadow|named\.conf|valiases/|virtual/)')
# A path into another account's home built from a variable: "/home/$user/public_html".
_HOME_OF_VAR = re.compile(rb'[\'"]/home\d*/(?:\$\{?\w|[\'"]\s*\.\s*\$|\*)')   # or every home: /home/*
_SQL_FILE_IO = re.compile(rb'(?i)[\'"][^\'"\n]{0,40}\bselect\b[^;\n]{0,400}?\binto\s+(?:out|dump)file\b|'
                          rb'[\'"][^\'"\n]{0,200}\bload_file\s*\(')
_LISTENER = re.compile(rb'(?i)(?<![\w>:$])(?:socket_listen\s*\(|stream_socket_server\s*\(\s*[\'"](?:tcp|udp)://)')
# The page overwriting the front page of its own directory (index.php / index.html).
_INDEX_OVERWRITE = re.compile(rb'(?i)(?<![\w>:$])(?:fopen\s*\(\s*[\'"](?:\./)?index\.(?:php|s?html?)[\'"]\s*,\s*[\'"][wa]|'
                              rb'file_put_contents\s*\(\s*[\'"](?:\./)?index\.(?:php|s?html?)[\'"])')


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


_NEW_COM = re.compile(rb'(?i)new\s+COM\s*\(\s*([^;]{1,200}?)\s*[,)]')
_GLOBALS_CALL = re.compile(rb'\$GLOBALS\[\s*(?:\d+|[\'"][^\'"\n]{1,40}[\'"]|\$\w+)\s*\]\s*\(')
_XSL_PHP_CALL = re.compile(rb'\w+:function(?:String)?\s*\(\s*\\?[\'"]\\?(\w+)\\?[\'"]', re.I)


def _sql_file_io(data):
    for needle in (b'dumpfile', b'DUMPFILE', b'outfile', b'OUTFILE', b'load_file', b'LOAD_FILE'):
        m = _match_near(data, needle, _SQL_FILE_IO, 460)
        if m:
            return m
    return None


# (rule, needles of which one must be in the reversed lower-cased copy, finder): what
# escapes() looks for.  Needles are the cheap gate; finders look near them.
_ESCAPES = (
    ('php.recon.other_accounts', (b'/cte/',), lambda d: _match_near(d, b'/etc/', _PASSWD_READ, 80)),
    ('php.recon.other_accounts', (b'emoh/',), lambda d: _match_near(d, b'/home', _HOME_OF_VAR, 1)),
    ('php.obfuscation.hidden_function', (b'[slabolg$',), lambda d: _GLOBALS_CALL.search(d)),
    ('php.net.listener', (b'_tekcos',), lambda d: _LISTENER.search(d)),   # socket_listen, .._socket_server
    ('php.deface.index_overwrite', (b'.xedni',),
     lambda d: _match_near(d, b'index.', _INDEX_OVERWRITE, 40)),
    ('php.sql.file_io', (b'elifpmud', b'eliftuo', b'elif_daol'), _sql_file_io),
    ('php.backdoor.admin_account', (b'_virpon_xaja_pw',), lambda d: _nopriv_admin(d)),
    ('php.backdoor.admin_account', (b'php.daol-pw', b'php.redaeh-golb-pw'),   # a loose script that
     lambda d: _WP_BOOT.search(d) and _ADMIN_MAKER.search(d)),               # boots WP, makes an admin
)
# An administrator made in code: wp_insert_user/wp_create_user/set_role with that role.
_ADMIN_MAKER = re.compile(rb'(?i)(?:set_role\s*\(|add_role\s*\(|[\'"]role[\'"]\s*=>)\s*[\'"]administrator[\'"]')
_WP_BOOT = re.compile(rb'(?i)(?:require|include)(?:_once)?\s*\(?[^;]{0,120}wp-(?:load|blog-header)\.php')
# add_action('wp_ajax_nopriv_x', 'cb') / array($this, 'cb') / [$this, 'cb']: the callback name
_NOPRIV_HOOK = re.compile(rb'[\'"]wp_ajax_nopriv_[\w-]+[\'"]\s*,\s*(?:array\s*\(|\[)?[^,\'")\]]*,?\s*[\'"](\w+)[\'"]')


def _nopriv_admin(data):
    """An administrator made inside a function an unauthenticated AJAX hook calls."""
    for hook in itertools.islice(_NOPRIV_HOOK.finditer(data), 8):
        m = re.search(rb'(?i)function\s+&?\s*' + hook.group(1) + rb'\s*\([^)]{0,300}\)[^{;]{0,80}\{', data)
        if m is None:
            continue
        body = data[m.end() - 1:m.end() - 1 + 65536]
        found = _ADMIN_MAKER.search(body, 0, _block_end(body))
        if found:
            return _ADMIN_MAKER.search(data, m.end() - 1 + found.start())
    return None
_BYPASS_GATES = (
    (b'bilz.sserpmoc', re.compile(     # reading THROUGH the wrapper sidesteps safe_mode checks
        rb'(?i:copy|readfile|file_get_contents|file|fopen|highlight_file|show_source)\s*\(\s*'
        rb'[\'"]compress\.zlib://[\'"]\s*\.')),
    (b'daolerp_dl', re.compile(rb'(?i)putenv\s*\(\s*[\'"]LD_PRELOAD|[\'"]LD_PRELOAD[\'"]\s*=>')),
    (b'erotser_ini', re.compile(rb'(?i)ini_restore\s*\(\s*[\'"](?:safe_mode|open_basedir)')),
    (b'dnammocyxorp', re.compile(rb'(?i)imap_open\s*\([^;]{0,300}-oProxyCommand')),
    (b'//:elif', re.compile(rb'(?i)(?:curl_init\s*\(|CURLOPT_URL\s*,)\s*[\'"](?:file:)?file:///?[\'"]?\s*\.')),
    (b'knilmys', re.compile(rb'(?i)symlink\s*\(\s*[\'"]/[\'"]')),
)
_SOCKET_READ = re.compile(rb'(?i)(?<![\w>:$])(?:socket_read|socket_recv|stream_socket_recvfrom|fgets|fread|'
                          rb'stream_get_line)\s*\(')
_STATEMENT_REST = re.compile(rb'(?:[^;\'"]|\'[^\'\\]*(?:\\.[^\'\\]*)*\'|"[^"\\]*(?:\\.[^"\\]*)*")*')
_CLOSURE_HEAD = re.compile(rb'(?<![\w$>:])(?:static\s+)?(?:function\s*\(([^)]{0,200})\)\s*(?:use\s*\([^)]{0,200}\)\s*)?'
                           rb'(?::\s*\??[\w\\]+\s*)?\{|fn\s*\(([^)]{0,200})\)\s*(?::\s*\??[\w\\]+\s*)?=>)', re.I)
_CLOSURE_SINK = re.compile(rb'(?<![\w$>:])(' + '|'.join(sorted(OS_SINKS | {'eval', 'create_function'})).encode() +
                           rb')\s*\(|(?<![\w$>:])(assert)\s*\(\s*\$\w+\s*(?:\[[^\]]{1,40}\]\s*)?\)|`', re.I)
# The client's own values, for checks that only need to know the request is read at all.
_CLIENT_INPUT = re.compile(rb'\$_(?:GET|POST|REQUEST|COOKIE|FILES)\b|\$_SERVER\s*\[\s*[\'"](?:HTTP_|QUERY_STRING)|'
                           rb'php://input|getallheaders|apache_request_headers|getenv\s*\(\s*[\'"](?:HTTP_|QUERY_STRING)|'
                           rb'\$HTTP_(?:GET|POST|COOKIE)_VARS', re.I)
_MAGIC_METHOD = re.compile(rb'(?i)function\s+(__(?:wakeup|destruct|tostring|call|callstatic|get|set|invoke|unserialize))'
                           rb'\s*\([^)]{0,200}\)[^{;]{0,40}\{')
_UNSERIALIZE = re.compile(rb'(?i)(?<![\w$>:])unserialize\s*\(')
_INCLUDE_STMT = re.compile(rb'(?<![\w$>:])(?i:include|require)(?i:_once)?\b')
_TEMP_FILE = re.compile(rb'(?i)(?<![\w$>])(?:tempnam|tmpfile|sys_get_temp_dir)\s*\(|[\'"]/tmp/')
_FUNC_HEAD = re.compile(rb'function\s+&?\s*(\w+)\s*\(([^)]{0,400})\)', re.I)
_PHP_DEST = re.compile(rb'\s*(?:__DIR__\s*\.\s*)?[\'"][^\'"$]{0,200}\.(?i:php\d?|phtml|phar|inc)[\'"]\s*$')
# A destination ending in a literal extension that no server runs: .lock, .json, .jpg...
_SAFE_SUFFIX = re.compile(rb'(?:\.\s*[\'"][^\'"$]{0,40}|"[^"]{0,200})'
                          rb'\.(?!(?i:php\d?|phtml|phar|inc|pht|shtml|cgi|pl|py|sh|asp|aspx|jsp)[\'"])'
                          rb'[A-Za-z0-9]{1,5}[\'"]\s*$')   # .. '.lock' or "$dir/$page.txt"
_CLASS_DEF = re.compile(rb'(?<![\w$])(?:class|interface|trait)\s+\w+', re.I)
# What a careful upload handler looks at before storing a file.
_NAME_CHECK = re.compile(
    rb'getimagesize|exif_imagetype|finfo_|mime_content_type|pathinfo|preg_match|in_array|'
    rb'strrchr|explode\s*\(\s*[\'"]\.|(?<![\w$>])end\s*\(|[\'"]\.?(?:jpe?g|png|gif)[\'"]|'
    rb'extension|substr\s*\(|\[[\'"]type[\'"]\]|\[[\'"]size[\'"]\]', re.I)
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


_FORM_SINK_RE = re.compile(('\\(%s(%s)(?![a-z0-9_$>:])' % (_GAP, _reversed_trie(
    [n[::-1] for n in ('unlink', 'rmdir', 'rename', 'chmod', 'copy', 'mysql_query', 'mysqli_query',
                       'mail', 'readfile', 'opendir', 'scandir', 'file_put_contents')]))).encode())
_CAST_BEFORE = re.compile(rb'\(\s*(?:int|integer|float|double|string|bool|boolean|array|object)\s*\)\s*$', re.I)


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
# a property given a value: '$obj->prop = ' (text just before the value)
_PROP_ASSIGN_BEFORE = re.compile(rb'\$\w+\s*->\s*(\w+)\s*=\s*$')
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


class _Ctx(object):
    """What surrounds a position in PHP code: the enclosing calls and the statement's head."""
    __slots__ = ('frames', 'in_backticks', 'head', 'stmt_start', 'in_string')

    def __init__(self, frames, in_backticks, head, stmt_start, in_string):
        self.frames, self.in_backticks, self.head = frames, in_backticks, head
        self.stmt_start, self.in_string = stmt_start, in_string


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
        return tuple(signatures.RULES) + tuple(signatures.YARA_PREFIX + n for n in self.yara.names)

    # --- entry point ----------------------------------------------------------------------
    def analyse(self, data, name):
        """Verdict for `data` (bytes, maybe head+tail only) of the file called `name`."""
        hits = []
        try:
            if not isinstance(data, (bytes, bytearray)):
                data = bytes(data)
            data = bytes(data)
            try:
                with _cpu_limit(self.max_cpu):
                    _Scan(self, data, name, hits).run()
            except token_analysis.BudgetExceeded as exc:
                hits.append(model.Hit('analysis.budget', 0, escape.one_line(
                    'analysis stopped: %s; the file is reported unread past that point' % exc,
                    EXCERPT), 'high', signatures.RULES['analysis.budget'].weight))
            for rule, weight, excerpt, offset in self.yara.match(data):
                hits.append(model.Hit(signatures.YARA_PREFIX + rule,
                                      data.count(b'\n', 0, offset) + 1 if offset else 0,
                                      escape.one_line(excerpt, EXCERPT), 'high', weight))
        except Exception:                      # never let one hostile file stop the scanner
            self.log.exception('detection engine failed on %s', escape.escape_name(name or ''))
            hits.append(model.Hit('engine.error', 0, 'internal error (see log)', 'low', 0))
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
            spec = signatures.RULES.get(rule)
            cap = spec.cap if spec else max(h.weight for h in rhits)
            score += min(sum(h.weight for h in rhits), max(cap, rhits[0].weight))
            kept.extend(rhits[:MAX_HITS_PER_RULE])
        kept.sort(key=lambda h: (-signatures.SEVERITIES.index(h.severity)
                                 if h.severity in signatures.SEVERITIES else 0, h.line, h.rule))
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
                signal.setitimer(signal.ITIMER_PROF, self.seconds)
                self.armed = True
            except (ValueError, OSError):
                self.armed = False
        return self

    def __exit__(self, *exc):
        if self.armed:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, self.old if self.old is not None else signal.SIG_DFL)
        return False


def _kind(name):
    base = os.path.basename(name or '').lower()
    if base in CONFIG_NAMES or base.endswith('.user.ini'):
        return 'config', base
    ext = base.rsplit('.', 1)[-1] if '.' in base else ''
    if ext in IMAGE_EXTS:
        return 'image', base
    if ext in PHP_EXTS:
        return 'php', base
    if ext in CGI_EXTS:
        return 'cgi', base
    if ext in ASP_EXTS:
        return 'asp', base
    if ext in JSP_EXTS:
        return 'jsp', base
    if ext in TEXT_EXTS:
        return 'text', base
    return 'other', base


class _Scan(object):
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

    def hit(self, rule, data, pos, origin=None, text=None, weight=None):
        spec = signatures.RULES[rule]
        if origin is not None:
            line = self.line_of(self.data, origin)
            text = 'decoded: ' + (text if text is not None else _excerpt(data, pos))
        else:
            line = self.line_of(data, pos) if pos is not None else 0
            if text is None:
                text = _excerpt(data, pos) if pos is not None else ''
        self.hits.append(model.Hit(rule, line, escape.one_line(text, EXCERPT), spec.severity,
                                   spec.weight if weight is None else weight))

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

    # --- images and other files that must not hold code -----------------------------------
    def image(self, data):
        i = data.find(b'<?')
        seen = 0
        while i >= 0 and seen < 2000:
            seen += 1
            m = _IMAGE_MARK.match(data, i)
            if m and _printable(data[i:i + 48]):
                self.hit('file.code_in_image', data, i)
                window = data[i:i + 65536]
                self.php(window, None, 0, base=i)
                return
            i = data.find(b'<?', i + 2)
        i = data.find(b'<%')
        seen = 0
        while i >= 0 and seen < 2000:
            seen += 1
            w = data[i:i + 200]
            if _printable(w[:48]) and re.search(rb'%>|request|eval|execute|response|runtime', w, re.I):
                self.hit('file.code_in_image', data, i)
                return
            i = data.find(b'<%', i + 2)
        if b'<script' in data or b'<SCRIPT' in data:
            m = _SCRIPT_TAG.search(data)
            if m:
                self.hit('file.code_in_image', data, m.start())

    def config(self, data, base):
        """.htaccess / .user.ini / php.ini: handlers that make other files PHP, prepends."""
        block_php = None
        for m in _CONFIG_LINE.finditer(data[:262144]):
            key, rest = m.group(1).lower(), m.group(2).strip()
            rl = rest.lower()
            if key.startswith(b'<files') or key.startswith(b'<directory'):
                block_php = bool(re.search(rb'ph(?:p|tml|ar|t)', rl))
                continue
            if key.startswith(b'</'):
                block_php = None
                continue
            if key in (b'addtype', b'addhandler'):
                words = rl.split()
                if words and (b'php' in words[0] or b'cgi-script' in words[0]):
                    exts = [w.lstrip(b'.') for w in words[1:]]
                    odd = [e for e in exts if e.decode('latin-1') not in PHP_EXTS
                           and not (b'cgi' in words[0] and e in (b'cgi', b'pl', b'py'))]
                    if odd:
                        self.hit('htaccess.php_handler', data, m.start())
            elif key in (b'sethandler', b'forcetype'):
                if (b'php' in rl or b'cgi-script' in rl) and not block_php:
                    self.hit('htaccess.php_handler', data, m.start())
            elif key in (b'php_value', b'php_admin_value') or key.startswith(b'auto_'):
                if b'auto_prepend_file' in rl or b'auto_append_file' in rl or key.startswith(b'auto_'):
                    target = rl.replace(b'auto_prepend_file', b'').replace(b'auto_append_file', b'')
                    target = target.strip(b' \t=\'"')
                    if not target or target in (b'none', b'""', b"''"):
                        continue
                    odd = not target.endswith(b'.php') or b'://' in target or \
                        target.startswith((b'/tmp', b'/dev/shm', b'data:'))
                    self.hit('htaccess.auto_prepend', data, m.start(), weight=12 if odd else None)

    # --- CGI scripts, ASP, JSP ----------------------------------------------------------------
    def cgi(self, data):
        head = data[:1048576]
        request = _CGI_REQUEST.search(head)
        execm = _CGI_EXEC.search(head)
        is_shell = head[:2] == b'#!' and re.match(rb'#![^\n]*\b(?:ba|z|k|da)?sh\b', head) or \
            self.name.lower().endswith(('.sh', '.bash'))
        if request and (execm or is_shell):
            self.hit('cgi.exec.request_input', head, request.start(),
                     text=_excerpt(head, request.start()))
        sock = _CGI_SOCKET.search(head)
        if sock:
            shell = _shell_str(head.lower())
            if shell or b'/dev/tcp/' in head:
                self.hit('cgi.revshell', head, sock.start())
        if execm and not is_shell:
            self.hit('cgi.exec.call', head, execm.start())
        if self.engine._kw_re is not None:
            low = head.lower()
            seen = set()
            for m in self.engine._kw_re.finditer(low):
                kw = m.group(1)
                if kw in seen:
                    continue
                ls = low.rfind(b'\n', 0, m.start()) + 1
                line = low[ls:m.start()].lstrip()
                if line.startswith((b'#', b'//')):
                    continue
                seen.add(kw)
                self.hit('keyword.exec_context', head, m.start(),
                         text='%s: %s' % (kw.decode('utf-8', 'replace'), _excerpt(head, m.start())))
                if len(seen) >= 8:
                    break

    def asp_jsp(self, data, kind):
        """ASP/ASPX and JSP server code: its server API (Request.Form, Server.CreateObject,
        request.getParameter, Runtime.exec), never bare '<% %>' tags, which JavaScript
        templates (EJS, underscore) use too.  Such code in a file named .php/.txt/.html cannot
        be a page of a PHP site: it was dropped there to be run elsewhere or renamed later."""
        head = data[:1048576]
        if kind not in ('asp', 'jsp') and not any(h in head for h in _SERVER_HINTS):
            return                             # '<%' of a JavaScript template, no server API
        low = head.lower()                     # the patterns are lower-case: no re.I scans
        if kind in ('asp', 'other', 'text', 'php'):
            m = _ASP_EXEC.search(low)
            if m:
                self.hit('asp.exec.request_input', head, m.start())
            else:
                s = _ASP_SHELL.search(low)
                if s and _ASP_REQUEST.search(low):
                    self.hit('asp.exec.request_input', head, s.start())
            req = _ASP_REQ.search(low)
            server = _ASP_SERVER.search(low) if req else None
            if req and server:
                self.server_files(head, low, kind, 'asp', req, server, _ASP_FS)
        if kind in ('jsp', 'other', 'text', 'php'):
            req = _JSP_REQUEST.search(low)
            m = _JSP_EXEC.search(low)
            if not m and req and b'getruntime' in low:
                m = _JSP_RT_EXEC.search(low)  # Runtime r = Runtime.getRuntime(); r.exec(cmd)
            if m and req:
                self.hit('jsp.exec.request_input', head, m.start())
            page = _JSP_PAGE.search(low) if req else None
            if page:
                self.server_files(head, low, kind, 'jsp', req, page, _JSP_FS)

    def server_files(self, head, low, kind, lang, req, server, fs_rx):
        """ASP/JSP code that reads the request: does it reach files, and is it in a file
        whose name says it is not ASP/JSP?"""
        fs = fs_rx.search(low)
        if fs:
            self.hit(lang + '.file.request_input', head, fs.start(),
                     text='%s with %s' % (head[fs.start():min(fs.end(), fs.start() + 40)].decode('latin-1'),
                                          head[req.start():min(req.end(), req.start() + 30)].decode('latin-1')))
        if kind != lang:
            self.hit('file.foreign_server_code', head, server.start(),
                     text='%s server code: %s' % (lang.upper(), _excerpt(head, server.start())))

    # --- PHP ----------------------------------------------------------------------------------
    def php(self, data, origin, depth, base=0, deep=False):
        if depth <= 4:
            self.tokens(data, origin, depth, base)
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
            if not worth:
                return
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

    def com_objects(self, data):
        """PHP on Windows reaching the shell or the server's configuration through COM:
        WScript.Shell / Shell.Application run programs; IIS:// and WinNT:// enumerate sites
        and accounts.  (Scripting.FileSystemObject and CAPICOM are left alone: libraries use
        them.)"""
        for m in _NEW_COM.finditer(data):
            arg = m.group(1)
            name = (_static_string(arg) or decode.fold(arg, None, self.budget) or arg).strip()
            name = name.strip(b'\'"').lower()
            if name in (b'wscript.shell', b'shell.application'):
                weight = 12
            elif name.startswith((b'iis://', b'winnt://')):
                weight = 10                    # the server's sites, their accounts, passwords
            elif name.startswith(b'wscript.network'):
                weight = 8
            else:
                continue
            if not _in_comment(data, m.start()):
                self.hit('php.exec.com_object', data, m.start(), weight=weight,
                         text='COM %s: %s' % (name[:40].decode('latin-1'), _excerpt(data, m.start())))
                return

    def escapes(self, data, rev):
        """Ways out of the account the site runs as: the system's user list and other users'
        homes (config grabbers, symlink attacks), and tricks around safe_mode, open_basedir and
        disable_functions.  Each is looked for only when a literal it needs is present."""
        for rule, needles, find in _ESCAPES:
            for n in needles:
                if n in rev:
                    break
            else:
                continue
            m = find(data)
            if m and not _in_comment(data, m.start()):
                self.hit(rule, data, m.start())
        if b'snoitcnufphpretsiger' in rev:
            m = _XSL_PHP_CALL.search(data)   # an XSLT/XPath expression calling system()
            if m and m.group(1).lower() in _EXEC_BYTES:
                self.hit('php.callback.dangerous_name', data, m.start(), weight=12,
                         text='registerPHPFunctions() and an expression calling %s: %s' % (
                             m.group(1).decode('latin-1'), _excerpt(data, m.start())))
        if b'moc wen' in rev:
            self.com_objects(data)
        for needle, rx in _BYPASS_GATES:       # needles: in the reversed lower-cased copy
            if needle in rev:
                m = rx.search(data) if needle != b'//:elif' else _match_near(data, b'file:', rx, 40)
                if m and not _in_comment(data, m.start()):
                    # no page has a reason to preload a library into the programs it starts;
                    # a bypass pointed at a path the client names is the tool in use
                    v = _VAR.match(data, m.end() + len(data[m.end():m.end() + 8]) -
                                   len(data[m.end():m.end() + 8].lstrip()))
                    aimed = v is not None and re.search(
                        rb'\$' + v.group(1) + rb'\s*=[^;]{0,200}\$_(?:GET|POST|REQUEST|COOKIE)\b', data)
                    self.hit('php.bypass.restrictions', data, m.start(),
                             weight=12 if needle == b'daolerp_dl' or aimed else None)
                    return


    def small_script(self, data):
        """A few lines of PHP that read request input and call code chosen at run time.

        Application code that runs a function named by a variable does so inside a framework
        (hooks, controllers), in files with much else going on; a script whose whole code is a
        couple of kilobytes, takes request input and makes such a call is a one-line shell,
        however the name of the function was spelled."""
        if b'$' not in data or not (b'$_' in data or b'$$' in data or b'${' in data or
                                    b'$HTTP_' in data or b'_POST' in data or b'_GET' in data or
                                    b'php://' in data or b'headers' in data):
            return
        code, where = _php_code(data)
        if not code or len(code) > 2048:
            return
        if not _SMALL_REQ.search(code):
            return
        for m in _SMALL_DYN.finditer(code):
            if _in_literal(data, where(m.start())):
                continue                       # 'eval(' in a string is text
            if m.group('var') is not None:
                var = m.group('var')
                if var.lower() in (b'this', b'class', b'obj', b'object'):
                    continue
                if re.match(rb'\s*\)', code[m.end():]) and not _SYMBOL_VAR.match(var):
                    # no argument: only counts when the callee itself was made at run time
                    if not re.search(rb'\$' + re.escape(var) + rb'\s*=\s*@?\s*(?:\$\w+\s*\(|create_function)',
                                     code):
                        continue
                if not self.callee_may_be_anything(code, var):
                    continue
            elif m.group('expr') is not None:
                if not _returns_callee(code, m.start('expr')):
                    continue
            else:
                name = _CB_NAME.search(m.group(0))
                idx = CALLBACKS.get(name.group(1).lower().decode()) if name else None
                if idx is not None:
                    paren = code.find(b'(', m.end())
                    cb = _nth_arg(_args(code, paren), idx) if paren >= 0 else None
                    if cb is None or _METHOD_CALLBACK.match(cb) or b'$' not in cb or \
                            _CLOSURE.match(cb):
                        continue               # a method of this class, or a name written out
                    cbvar = re.match(rb'\s*\$(\w+)', cb)
                    if cbvar and not self.callee_may_be_anything(code, cbvar.group(1)):
                        continue
            pos = where(m.start())
            self.hit('php.small.dynamic_input', data, pos)
            return


    def symbol_code(self, data):
        """Code written (almost) without letters: names built by XOR/NOT/OR of punctuation
        literals, by incrementing a string ($__++), by joins of chr() or of letters picked from
        a string by index, kept in variables named only of underscores, then called."""
        letters_raw = len(data) - len(data.translate(None, _LETTERS))
        if letters_raw >= len(data) * 0.25 and not _symbol_builds(data):
            return                             # cheap gate before the code is cut out
        code, where = _php_code(data, 16384)
        if not code or len(code) > 16384:
            return
        call = _SYMBOL_CALL.search(code)
        if call is None:
            return
        builds = _symbol_builds(code)
        bare = _STRINGS_ANY.sub(b'', code)
        letters = sum(1 for b in bare if 65 <= b <= 90 or 97 <= b <= 122)
        sparse = len(bare) >= 40 and letters < len(bare) * 0.25
        if sparse:
            builds.append('few letters in the code (%d of %d bytes)' % (letters, len(bare)))
        if not builds:
            return
        # a build technique AND a mostly-symbol text: nobody writes application code so
        self.hit('php.obfuscation.symbol_code', data, where(call.start()),
                 text='%s; calls %s' % (', '.join(builds), call.group(0)[:30].decode('latin-1')),
                 weight=12 if sparse and len(builds) >= 2 else None)

    def callee_may_be_anything(self, code, var):
        """False when every assignment of $var folds to the name of a harmless function."""
        if re.search(rb'\$' + re.escape(var) + rb'\s*\.=', code):
            return True                        # grown piece by piece: 'sh' .. 'ell_exec'
        needle = re.compile(rb'\$' + re.escape(var) + rb'\s*=(?![=>])\s*([^;]{1,400});')
        rhss = []
        for m in needle.finditer(code):
            pick = _TERNARY_PICK.match(m.group(1))
            # cond ? 'a' : 'b': whatever decides, the value is one of the two literals
            rhss.extend(pick.groups() if pick else (m.group(1),))
        if rhss and all(_LITERAL_ARRAY.match(r) and not _spells_dangerous(r) for r in rhss):
            return False                       # a registry of names the code wrote out
        if rhss and all(_CLOSURE.match(r) for r in rhss):
            return False                       # a closure written here: its body is judged itself
        values = [decode.fold(r, None, self.budget) for r in rhss]
        if not values or any(v is None for v in values):
            return True
        return any(_spells_dangerous(v) or not re.match(rb'\s*[A-Za-z_][\w\\]*\s*$', v)
                   for v in values)


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
_SMALL_REQ = re.compile(
    rb'\$_(?:GET|POST|REQUEST|COOKIE|FILES)\b|\$_SERVER\s*\[\s*[\'"](?:HTTP_|QUERY|PHP_AUTH|argv)|'
    rb'\$HTTP_\w+_VARS|php://input|getallheaders|apache_request_headers|'
    rb'\$\{|[\'"]_(?:P|G|R|C|S|PO|GE|RE|CO|SE)[\'"]\s*\.|[\'"]_(?:POST|GET|REQUEST|COOKIE|SERVER)[\'"]', re.I)
_SYMBOL_VAR = re.compile(rb'_+$')
# Triage for small_script on the reversed, lower-cased buffer: every _SMALL_DYN match ends
# in a '(' preceded (gaps of blanks and comments allowed: small_script reads the code with
# comments blanked) by a variable, a subscript/brace, or one of its function names.
_SMALL_DYN_NAMES = ('__invoke', 'array_diff_assoc', 'array_diff_key', 'array_diff_uassoc', 'array_diff_ukey', 'array_filter', 'array_intersect_assoc', 'array_intersect_key', 'array_intersect_uassoc', 'array_intersect_ukey', 'array_map', 'array_udiff', 'array_udiff_assoc', 'array_udiff_key', 'array_udiff_uassoc', 'array_udiff_ukey', 'array_uintersect', 'array_uintersect_assoc', 'array_uintersect_key', 'array_uintersect_uassoc', 'array_uintersect_ukey', 'array_walk', 'assert', 'call_user_func', 'call_user_func_array', 'create_function', 'eval', 'invoke', 'invokeargs', 'iterator_apply', 'mb_ereg_replace', 'mb_eregi_replace', 'newinstance', 'newinstanceargs', 'ob_start', 'preg_replace_callback', 'register_shutdown_function', 'register_tick_function', 'uasort', 'uksort', 'usort')
_SMALL_GATE_REV = re.compile(
    ('\\((?:\\s|/\\*.{0,4000}?\\*/|\\n[^\\n]{0,4000}?(?://|\\#))*(?:[\\])}]|[a-z0-9_]+\\$|(?:%s)(?![a-z0-9_$]))'
     % _reversed_trie([n[::-1] for n in _SMALL_DYN_NAMES])).encode(), re.S)
# Byte gate for symbol_code: a variable named of underscores, or ${..}.
_SYMBOL_HINT = re.compile(rb'\$(?:_(?:[_(=\[{.)]| =)|\{)')
# A call through a variable: $_(..), $__[..](..), ${..}(..), $x(..) (not a method: no -> before).
_SYMBOL_CALL = re.compile(rb'(?<![\w>:$])(?:\$_+|\$\{[^{}]{1,200}\}|\$[A-Za-z_]\w*)\s*'
                          rb'(?:(?:\[[^\]\n]{0,40}\]|\{[^}\n]{0,40}\})\s*)*\(')
_QUOTED_PUNCT = rb'(?:\'[^\'\w\s]{1,12}\'|"[^"\w\s]{1,12}")'
# (why, regex, matches needed, bytes one of which must be in the file for the regex to run)
_SYMBOL_BUILDS = (
    ('XOR/OR of punctuation literals',
     re.compile(_QUOTED_PUNCT + rb'\s*[\^|]|[\^|]\s*' + _QUOTED_PUNCT + rb'|[\^|]\s*[\'"]%[0-9A-Fa-f]{2}'), 2,
     (b"'^", b"^'", b'"^', b'^"', b"' ^", b"^ '", b'" ^', b'^ "', b"'|", b"|'", b'"|', b'|"', b"' |", b'" |')),
    ('NOT of literals', re.compile(rb'(?<![\w\'"~])~\s*(?:\(\s*)?(?:[\'"]|\$_+\s*[\[{])'), 2, (b'~',)),
    ('incremented string variables', re.compile(rb'\$_+\s*\+\+|\+\+\s*\$_+(?![\w])'), 4, (b'_++', b'_ ++', b'++$_')),
    ('names joined from chr()', re.compile(rb'(?:\bchr|\$\w+)\s*\(\s*\d{2,3}\s*\)\s*\.', re.I), 6, (b'chr', b'CHR', b'Chr')),
    ('names joined from letters picked by index',
     re.compile(rb'\$\w+\s*[\[{]\s*\d{1,2}\s*[\]}]\s*\.\s*\$\w+\s*[\[{]\s*\d{1,2}\s*[\]}]'), 3,
     (b'].$', b'}.$', b'] .', b'} .')),
)


def _symbol_builds(text):
    """Names of the letter-free building techniques `text` uses (bounded, gated by bytes)."""
    out = []
    for why, rx, need, gate in _SYMBOL_BUILDS:
        if any(g in text for g in gate) and len(rx.findall(text, 0, 16384)) >= need:
            out.append(why)
    return out
# A variable named only of underscores, or ${..}: where symbol-built code keeps its names.
_SYMBOL_HINTS = (b'$__', b'$_(', b'$_=', b'$_ =', b'$_[', b'$_{', b'${', b'$_.', b'$_)')
_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_STRINGS_ANY = re.compile(rb"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)
# Calls of code chosen at run time, in comment-free code: $f(..), $a['k'](..), ${..}(..),
# eval/assert of a non-literal, reflection invocation, callbacks given a variable.
_SMALL_DYN = re.compile(
    rb'(?<![\w>:$])(?<!new )(?<!new  )\$(?P<var>[A-Za-z_]\w*)\s*(?:(?:\[[^\]\n]{0,80}\]|\{[^}\n]{0,40}\})\s*)*\('
    rb'|(?<![\w>:$])\$\{[^{}]{1,400}\}\s*(?:\[[^\]\n]{0,80}\]\s*)*\('
    rb'|(?<![\w>:$])(?:eval|assert(?!\s*\(\s*(?:!|[A-Za-z_][\w\\]*\s*\(|\$\w+\s*(?:instanceof|[=!<>]=?))))'
    rb'\s*\(\s*(?![\'"][^\'"$]*[\'"]\s*\))'      # (assert(is_string($x)): a type check)
    rb'|(?<![\w$])(?:create_function|invokeArgs|invoke|newInstanceArgs|newInstance|'
    rb'register_tick_function|register_shutdown_function|ob_start|mb_ereg_replace|mb_eregi_replace|'
    rb'call_user_func(?:_array)?|array_map|array_walk|array_filter|usort|uasort|uksort|'
    rb'array_(?:u?diff|u?intersect)_u?(?:key|assoc)|array_u(?:diff|intersect)(?:_u?assoc)?|'
    rb'iterator_apply|preg_replace_callback)(?=\s*\([^;]{0,300}\$)'
    rb'|->\s*__invoke(?=\s*\([^;]{0,300}\$)'
    # f(..)(..) / (expr)(..): the value of an expression called as a function (not a cast)
    rb'|(?<=[\w\'"\])])(?<!\(int)(?<!\(integer)(?<!\(string)(?<!\(array)(?<!\(bool)'
    rb'(?<!\(boolean)(?<!\(float)(?<!\(double)(?<!\(object)(?<!\(binary)(?<!\(unset)'
    rb'(?<!\(real)(?P<expr>\))\s*\((?=\s*@?\$)', re.I)
_LITERAL_ARRAY = re.compile(rb'\s*(?:array\s*\(|\[)[^$()]*[)\]]\s*$', re.I)
_CB_NAME = re.compile(rb'([A-Za-z_]\w*)\s*$')
_CLOSURE = re.compile(rb'\s*(?:static\s+)?(?:function|fn)\s*\(', re.I)
_METHOD_CALLBACK = re.compile(rb'\s*(?:\[|array\s*\()\s*(?:\$this|self::|static::|__CLASS__)', re.I)


# Decryption of a body: openssl/mcrypt, or a byte-wise XOR loop of two indexed strings.
_DECRYPT = re.compile(rb'(?<![\w>:$])(?:openssl_decrypt|mcrypt_decrypt|mdecrypt_generic|sodium_crypto_secretbox_open)\s*\('
                      rb'|\$\w+\s*\[\s*\$\w+[^\]\n]{0,20}\]\s*(?:\^|\bxor\b)\s*\$\w+\s*\['
                      rb'|(?<![\w>:$])ord\s*\(\s*\$\w+\s*\[[^\]\n]{1,20}\]\s*\)\s*\^'
                      rb'|\$\w+\s*\[\s*\$\w+\s*\]\s*\^\s*(?:chr|\$)', re.I)
_BODY_INPUT = re.compile(rb'php://input|\$_(?:POST|REQUEST|COOKIE|GET|SESSION)\b|HTTP_RAW_POST_DATA|getallheaders', re.I)
# A URL literal read by a fetching call: code taken from another server.
_REMOTE_FETCH = re.compile(rb'(?<![\w>:$])(?:file_get_contents|curl_exec|fopen|file|fsockopen)\s*\(', re.I)
_URL_LITERAL = re.compile(rb'[\'"](?:https?|ftp)://[^\'"\s]{4,200}[\'"]', re.I)
_FIELD_NAME = re.compile(rb'(?<![\w-])(?:name|NAME|Name)\s*=\s*\\?[\'"]?([A-Za-z_]\w{0,40})(?![\w\[])')
_CAPABILITIES = (
    ('exec', OS_SINKS),
    ('destroy', frozenset(('unlink', 'rmdir', 'rename', 'chmod', 'chown', 'copy',
                           'file_put_contents', 'move_uploaded_file', 'fwrite', 'fputs'))),
    ('list', frozenset(('opendir', 'scandir'))),
    ('sql', frozenset(('mysql_query', 'mysqli_query', 'pg_query', 'mssql_query', 'mysql_db_query'))),
    ('mail', frozenset(('mail',))),
    ('socket', SOCKETS),
)
# A user-defined function (PHP keywords are case-insensitive), and what decoding looks like.
_ALL_CALL_BYTES = frozenset(n.encode() for n in _ALL_CALLS)
_DECODE_PRIMITIVE = re.compile(
    rb'(?<![\w>:$])(?:chr|ord|hexdec|base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|'
    rb'convert_uudecode|hex2bin|pack|bindec|octdec)\s*\(|\^\s*\$|\$\w+(?:\[[^\]\n]{0,40}\])?\s*\^|\bxor\b', re.I)
_NAMED_CALL = re.compile(rb'(?<![\w$>:\\])([A-Za-z_]\w*)\s*\(')
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


# include/require of a .php file: the page belongs to an application that has more code.
_APP_INCLUDE = re.compile(rb'(?<![\w$>:])(?:include|require)(?:_once)?\b\s*\(?\s*[^;\n]{0,120}\.php',
                          re.I)
_CAP_TEXT = {'exec': 'runs OS commands', 'destroy': 'deletes/renames/writes files',
             'list': 'lists directories', 'sql': 'runs SQL', 'mail': 'sends mail',
             'socket': 'opens sockets', 'eval': 'evaluates code', 'recon': 'probes the server',
             'upload': 'takes uploads', 'files': 'manages files (six or more kinds of file calls)'}
_FILE_VERBS = (
    ('list', frozenset(('opendir', 'scandir', 'glob'))),
    ('read', frozenset(('readfile', 'highlight_file', 'show_source', 'file_get_contents', 'file'))),
    ('write', frozenset(('fwrite', 'fputs', 'file_put_contents'))),
    ('rename', frozenset(('rename', 'copy'))),
    ('delete', frozenset(('unlink', 'rmdir'))),
    ('perms', frozenset(('chmod', 'chown', 'chgrp', 'touch'))),
    ('mkdir', frozenset(('mkdir',))),
    ('upload', frozenset(('move_uploaded_file',))),
)
_RECON = re.compile(rb'(?<![\w>:$])(?:php_uname|posix_getpwuid|posix_getgrgid|disk_free_space|'
                    rb'disk_total_space|getmyuid|get_current_user|posix_geteuid)\s*\(|'
                    rb'[\'"](?:safe_mode|disable_functions|open_basedir)[\'"]|/etc/passwd|uname -a',
                    re.I)


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
_DECRYPT_L = _lowered(_DECRYPT)
_BODY_INPUT_L = _lowered(_BODY_INPUT)
_REMOTE_FETCH_L = _lowered(_REMOTE_FETCH)
_URL_LITERAL_L = _lowered(_URL_LITERAL)
_APP_INCLUDE_L = _lowered(_APP_INCLUDE)
_RECON_L = _lowered(_RECON)
# form field names, on the lower-cased copy: the literal 'name' is found at C speed
_FIELD_NAME_L = re.compile(rb'name(?<![\w-]name)\s*=\s*\\?[\'"]?([a-z_]\w{0,40})(?![\w\[])')
# _DYNCALL on the reversed, lower-cased buffer: '(' name '$', or '$' '(' ']'/')'
_DYNCALL_REV = re.compile(rb'\(\s*[a-z0-9_]+\$(?<=[a-z_]\$)|\$\s*\(\s*[\])]')


# One call opener ('name (') read backwards: blanks, '(', blanks, the name, then '$' of a
# variable or '->'/'::' of a method (reversed).
_OPENER_REV = re.compile(rb'\s*\(\s*([A-Za-z0-9_\\]+)(\$)?(>-|::)?')


# '(' of a call of a run-time name, on the reversed buffer: after a variable, ']', ')', '}'.
_DYN_PAREN_REV = re.compile(rb'\(\s*(?:[\])}]|[a-z0-9_]+\$)')


class _Php(object):
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

    def hit(self, rule, pos, text=None, weight=None, key=None):
        k = (rule, key if key is not None else pos)
        if k in self.reported:
            return
        self.reported.add(k)
        self.scan.hit(rule, self.data, pos, self.origin, text, weight)

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

    # Code that arrives encrypted or from elsewhere ------------------------------------------
    def hidden_payloads(self):
        """eval of a variable in a file that also decrypts request input (Behinder, Godzilla,
        antSword-like clients send AES/XOR-encrypted code) or fetches code from a URL."""
        data = self.data
        sink = None
        for name in CODE_SINKS:
            for start, paren in self.calls.get(name, ()):
                args = _args(data, paren)
                if b'$' in args and not _in_comment(data, start):
                    sink = start if sink is None else min(sink, start)
                    self.decoding_loop(args, start, name)
        for start, what in self.code_includes():
            sink = start if sink is None else min(sink, start)
            self.hit('php.code.eval_variable', start, text='includes %s: %s' % (what, _excerpt(data, start)))
        if sink is None:
            return
        low = self.low
        crypt = _DECRYPT_L.search(low)
        if crypt and (_BODY_INPUT_L.search(low) or self.taint):
            self.hit('php.code.decrypted_input', sink,
                     text='decrypts with %s, then evaluates: %s' % (
                         _span(data, crypt, 30).decode('latin-1'), _excerpt(data, sink)))
        for name in CODE_SINKS:                # eval(file_get_contents('http://..')): the code
            for start, paren in self.calls.get(name, ())[:16]:   # itself comes from elsewhere
                if self.fetched(_args(data, paren), 2) and not _in_comment(data, start):
                    self.hit('php.code.fetched_code', start,
                             text='evaluates what it fetches: %s' % _excerpt(data, start))
                    return
        fetch = _URL_LITERAL_L.search(low)
        if fetch and _REMOTE_FETCH_L.search(low):
            self.hit('php.code.remote_fetch', sink,
                     text='fetches %s, then evaluates: %s' % (
                         _span(data, fetch, 40).decode('latin-1'), _excerpt(data, sink)))

    def decoding_loop(self, args, start, sink):
        """eval($out) where $out is grown byte by byte with XOR or chr(): a packer's own
        decoding loop, written inline (the custom_decoders check wants a function)."""
        for var in set(_VAR.findall(args[:200])):
            rx = re.compile(rb'\$' + var + rb'\s*\.=\s*[^;]{0,200}?(?:\^|(?<![\w$>])chr\s*\()', re.I)
            if rx.search(self.data):
                self.hit('php.code.custom_decoder', start, key='customdec',
                         text='%s() runs what a byte-by-byte decoding loop builds: %s' % (
                             sink, _excerpt(self.data, start)))
                return

    def code_includes(self):
        """include/require that run code held in a string: a data: URI, a temporary file the
        script itself writes, or a stream wrapper it registers.  They are eval by other names."""
        data = self.data
        low = self.low
        out = []
        wrapper = b'stream_wrapper_register' in low
        sites = []
        for word in (b'include', b'require'):
            i = low.find(word)
            while i >= 0 and len(sites) < 64:
                sites.append(i)
                i = low.find(word, i + 7)
        for i in sorted(sites):
            m = _INCLUDE_STMT.match(data, i)
            if m is None:
                continue
            arg = _STATEMENT_REST.match(data, m.end(), m.end() + 400).group(0)
            low = arg.lower()
            if b'data:' in low and (b'$' in arg or b'(' in arg):
                out.append((m.start(), 'a data: URI built at run time'))
            elif wrapper and b'://' in arg and b'$' in arg:
                out.append((m.start(), 'a stream wrapper the file registers'))
            else:
                v = re.match(rb'\s*\(?\s*\$(\w+)\s*\)?\s*$', arg)
                if v and any(_TEMP_FILE.search(rhs) for _, rhs in
                             self.assignments(v.group(1).decode('latin-1'), limit=4)):
                    out.append((m.start(), 'a temporary file it wrote'))
            if len(out) >= 4:
                break
        return [(pos, what) for pos, what in out if not _in_comment(data, pos)]

    def safe_destination(self, dest):
        """Does the destination end in a fixed extension that no server runs (.lock, .json),
        written out or in the one variable it is (assigned so every time)?"""
        if _SAFE_SUFFIX.search(dest):
            return True
        m = re.match(rb'\s*\$(\w+)\s*$', dest)
        if m is None:
            return False
        rhss = [rhs for _, rhs in self.assignments(m.group(1).decode('latin-1'), limit=4)]
        return bool(rhss) and all(_SAFE_SUFFIX.search(rhs.rstrip().rstrip(b';')) for rhs in rhss)

    def unchecked_write(self, callee, pos):
        """A client-chosen write in a script that is little more than that write and never
        looks at the name or type of what it stores.  Applications that take uploads check
        the extension or the image type, and sit inside classes and libraries; a stand-alone
        page that saves anything anywhere is an uploader, installed to install more."""
        if self.depth or 'unchecked' in self.__dict__:
            return
        if callee not in ('move_uploaded_file', 'copy') and not self.client_content(callee):
            return                             # the client picks the name, not what is stored
        self.unchecked = True
        code, where = _php_code(self.data, 4096)
        if where is None or _CLASS_DEF.search(code) or _NAME_CHECK.search(code):
            return
        self.hit('php.write.unchecked', pos)

    def client_content(self, callee):
        """Does what file_put_contents/fwrite store come from the request (directly or
        through a variable)?"""
        data = self.data
        if callee == 'file_put_contents':
            contents = [_nth_arg(_args(data, p), 1) for _, p in self.calls.get(callee, ())[:8]]
        else:
            contents = [_nth_arg(_args(data, p), 1)
                        for name in ('fwrite', 'fputs') for _, p in self.calls.get(name, ())[:8]]
        return any(c and self.remote_source(c, 2) for c in contents)

    def hex_code(self):
        data = self.data
        rev = self.rev_low
        unhex = b"'*h'" in rev or b'"*h"' in rev or b'nib2xeh' in rev   # pack('H*'), hex2bin
        for pos, text in (_hex_code(data) if len(data) <= 8192 or unhex else ()):
            self.sub_code(text, pos, 'a hex string holds code')
        names = []                             # array('7068705f756e616d65', ..): php_uname
        if len(data) <= 65536 and 'base64_decode' in self.calls:
            for m in itertools.islice(_B64_NAME.finditer(data), 200):   # 'c2hlbGxfZXhlYw=='
                if len(m.group(1)) % 4:
                    continue                   # not whole base64 (and decoding would raise)
                try:
                    name = binascii.a2b_base64(m.group(1)).strip().lower()
                except (binascii.Error, ValueError):
                    continue
                if name in _EXEC_BYTES:
                    self.hit('php.obfuscation.hidden_function', m.start(), key='b64name',
                             text='a base64 string spells %s' % name.decode('latin-1'))
                    break
        if len(data) > 65536 or not (unhex or b'cedxeh' in rev):
            return                             # nothing here turns hex into a name
        for m in _HEX_NAME.finditer(self.data):
            name = binascii.unhexlify(m.group(1)).lower()
            if name in _ALL_CALL_BYTES or name in _DANGEROUS_BYTES:
                names.append((m.start(), name))
                if len(names) >= 3 or name in _DANGEROUS_BYTES:
                    break
        if len(names) >= 3 or names and names[-1][1] in _DANGEROUS_BYTES:
            self.hit('php.obfuscation.hidden_function', names[0][0], key='hexnames',
                     text='hex strings spell %s' % ', '.join(n.decode() for _, n in names))

    def escaped_code(self):
        """eval("\\x65\\x76\\x61\\x6c(...)"): code hidden only by PHP's own string escapes.
        The literal may be any size (the folding in computed() stops at a few KB)."""
        data = self.data
        for name in ('eval', 'assert'):
            for start, paren in self.calls.get(name, ())[:16]:
                q = paren + 1
                while data[q:q + 1] in (b' ', b'\t', b'\r', b'\n', b'@', b'('):
                    q += 1
                if data[q:q + 1] != b'"' or not re.match(rb'"[^"]{0,40}\\(?:x[0-9a-fA-F]|[0-7])',
                                                         data[q:q + 48]):
                    continue
                code, _ = decode.read_literal(data, q, limit=4 << 20)
                if code and b'(' in code:
                    self.sub_code(code[:self.scan.budget.room()], start,
                                  '%s() of an escaped string' % name)
                    return

    def custom_decoders(self):
        """eval(f('<long literal>')) where f is defined in this file and decodes (chr/ord,
        hexdec, base64, gzinflate, str_rot13, strrev, XOR): packers ship their own decoder so
        no known decoder name stands next to eval.  Only names called at an eval site are
        looked up, so files without such a call cost one regex per site."""
        data = self.data
        sites = [(start, paren) for name in CODE_SINKS for start, paren in self.calls.get(name, ())]
        sites.extend(_include_calls(data, 16))
        if len(data) <= 16384 and self.dynamic_calls:   # $f(decoder('...'))
            sites.extend((m.start(), m.end() - 1) for m in self.dyn_call_matches()[:16])
        known = {}
        callees = {}                           # site -> its callee variable ($f = f('..'); $f(..))
        if len(data) <= 16384 and self.dynamic_calls:
            for m in self.dyn_call_matches()[:16]:
                if m.group(1) is not None:
                    callees[m.start()] = m.group(1).decode('latin-1')
        for start, paren in sites[:64]:
            if data[paren:paren + 1] == b'(':
                args = _args(data, paren)
            else:
                stop = data.find(b';', paren, paren + 4000)
                args = data[paren:stop if stop > 0 else paren + 400]
            calls = [(m.group(1), args, m.end() - 1, 80) for m in _NAMED_CALL.finditer(args)]
            for var in set(_VAR.findall(args[:400])):   # $code = f('...'); eval($code);
                for _, rhs in self.assignments(var.decode('latin-1'), limit=4):
                    calls.extend((m.group(1), rhs, m.end() - 1, 80)
                                 for m in _NAMED_CALL.finditer(rhs[:400]))
            if start in callees:               # the function NAME is what the decoder gives
                for _, rhs in self.assignments(callees[start], limit=4):
                    calls.extend((m.group(1), rhs, m.end() - 1, 4)
                                 for m in _NAMED_CALL.finditer(rhs[:400]))
            for fname, text, paren2, min_len in calls[:16]:
                low = fname.lower()
                if low in _ALL_CALL_BYTES or low in (b'array', b'isset', b'empty', b'list'):
                    continue
                if low not in known:
                    known[low] = self.decoder_defined(fname)
                if known[low] is None or not self.long_literal_arg(text, paren2, min_len):
                    continue
                if _in_comment(data, start):
                    continue
                self.hit('php.code.custom_decoder', start, key='customdec',
                         text='runs what %s() (defined at line %d) decodes: %s' % (
                             fname.decode('latin-1'), self.scan.line_of(data, known[low]),
                             _excerpt(data, start)))
                return

    def decoder_defined(self, fname):
        """Offset of `function fname(` in this buffer when its body decodes, else None."""
        data = self.data
        low = fname.lower()
        i = data.find(fname)
        m = None
        n = 0
        while i >= 0 and n < 50 and m is None:   # find the name, then look back for 'function'
            n += 1
            m = _FUNC_BEFORE.search(data, max(0, i - 20), i)
            if m is not None and not re.match(re.escape(fname) + rb'\s*\(', data[i:i + len(fname) + 20]):
                m = None
            i = data.find(fname, i + 1)
        if m is None and low != fname:
            return None if low not in data.lower() else self.decoder_defined(low)
        if m is None:
            return None
        brace = data.find(b'{', m.end(), m.end() + 600)
        if brace < 0:
            return None
        body = data[brace:brace + 8000]
        body = body[:_block_end(body)]
        return m.start() if _DECODE_PRIMITIVE.search(body) else None

    def long_literal_arg(self, text, paren, min_len=80):
        """Is the first argument of the call whose '(' is at text[paren] a literal of at
        least min_len bytes (or a variable assigned one)?"""
        arg = (_nth_arg(_args(text, paren, limit=1 << 20), 0) or b'').strip()
        if arg[:1] in (b"'", b'"'):
            return len(arg) >= min_len
        m = re.match(rb'\$(\w+)\s*$', arg)
        if m:
            for _, rhs in self.assignments(m.group(1).decode('latin-1'), limit=4):
                rhs = rhs.strip()
                if rhs[:1] in (b"'", b'"') and len(rhs) >= min_len:
                    return True
        return False

    # Pages with their own HTML form ----------------------------------------------------------
    def form_pages(self):
        """The page's own form fields choosing what runs, and pages that bundle a shell's tools."""
        data = self.data
        calls = self.calls
        fields = None
        fs_hits = collections.OrderedDict()
        for name in sorted((FS_SINKS | OS_SINKS | CODE_SINKS) & calls.keys()):
            if fields is None:
                fields = set()
                for m in _FIELD_NAME_L.finditer(self.low):
                    if data[m.start():m.start() + 4] not in (b'name', b'NAME', b'Name'):
                        continue
                    fields.add(data[m.start(1):m.end(1)].decode('latin-1'))
                    if len(fields) >= 400:
                        break
            for start, paren in calls[name][:50]:
                if _in_comment(data, start):
                    continue
                args = _args(data, paren)
                hit = None
                target = args if name in OS_SINKS or name in CODE_SINKS else (_nth_arg(args, 0) or b'')
                for var in _VAR.findall(target):   # for files: the path / recipient / query
                    v = var.decode('latin-1')
                    if v not in fields:
                        continue
                    if name in OS_SINKS or name in CODE_SINKS:
                        self.hit('php.exec.form_input', start,
                                 text='form field %s reaches %s(): %s' % (v, name, _excerpt(data, start)))
                        hit = True
                        break
                    if v not in self.taint and not self.assigned(v):
                        hit = start
                        break
                if hit is not None:
                    if hit is not True:
                        fs_hits.setdefault(name, hit)
                    break
        for name, start in list(fs_hits.items())[:4]:
            self.hit('php.globals.form_sink', start,
                     text='never-set variable named like a form field reaches %s(): %s'
                     % (name, _excerpt(data, start)))
            if name in WRITES:
                self.unchecked_write(name, start)
        caps = set()
        for cap, names in _CAPABILITIES:
            if calls.keys() & names:
                caps.add(cap)
        if 'eval' in calls or 'assert' in calls:
            if any(b'$' in _args(data, p)[:200] for _, p in calls.get('eval', []) + calls.get('assert', [])):
                caps.add('eval')
        verbs = [v for v, names in _FILE_VERBS if calls.keys() & names]
        if len(verbs) >= 6:                    # list, read, write, rename, delete, chmod, mkdir..
            caps.add('files')                  # on one page: a file manager for the whole server
        if len(caps) < 2 or 'exec' not in caps and len(caps) < 3:
            return
        app = _APP_INCLUDE_L.search(self.low)
        if app and b'$_' not in data[app.start():app.end()]:
            return                             # a page of an application (loads its code),
                                               # not a self-contained shell
        if b'$_FILES' in data or b'HTTP_POST_FILES' in data:
            caps.add('upload')
        if _RECON_L.search(self.low):
            caps.add('recon')
        if len(caps) >= 3 and 'exec' in caps or len(caps) >= 5 or \
                'files' in caps and len(caps) >= 4:
            first = min(p for name in calls for p, _ in calls[name][:1]) if calls else 0
            self.hit('php.shell.toolkit', first, key='toolkit',
                     text='one page with a form that %s' % ', '.join(_CAP_TEXT[c] for c in sorted(caps)),
                     weight=8 if 'exec' in caps else 6)

    # Values computed from literals -----------------------------------------------------------
    def fold_env(self, needed=None):
        """{var: constant value} for variables assigned constant string expressions.

        With `needed` (names), only those and the variables their right-hand sides name
        (transitively) are folded: a value depends on nothing else, and folding every
        assignment of a large application was most of the cost."""
        data = self.data
        env = {}
        found = []
        rereads = 0
        for m in _ASSIGN_FAST.finditer(data):
            rhs = m.group(2)
            if (rhs.count(b"'") % 2 or rhs.count(b'"') % 2) and rereads < 20:
                # a quoted ';' cut the statement short: read it again, strings understood
                rereads += 1                   # (a few times: each may read a long string)
                m = _ASSIGN_ANY.match(data, m.start()) or m
                rhs = m.group(2)
            found.append((m.start(), m.group(1), rhs))
            if len(found) >= 300:
                break
        if b'.=' in data:                      # $f = 'as'; $f .= 'sert';
            appends = [(m.start(), m.group(1), b'$' + m.group(1) + b' . (' + m.group(2) + b')')
                       for m in itertools.islice(_APPEND_ANY.finditer(data), 100)]
            found = sorted(found + appends)
        found = [(var, rhs) for _, var, rhs in found]
        if needed is not None and any(b'$$' in rhs for _, rhs in found):
            needed = None                      # $$o: which variables matter is known only folded
        if needed is not None:
            deps = collections.defaultdict(set)
            for var, rhs in found:
                if b'$' in rhs:
                    deps[var].update(_VAR.findall(rhs))
            keep, todo = set(), list(needed)
            while todo:
                var = todo.pop()
                if var not in keep:
                    keep.add(var)
                    todo.extend(deps.get(var, ()))
            found = [(var, rhs) for var, rhs in found if var in keep]
        self.plain = set()
        for first in (True, False):            # in order (reassignments win), then once more
            for var, rhs in found:
                if not first and var in env:
                    continue
                value = decode.fold(rhs, env, self.scan.budget, keep_arrays=True)
                if value is not None and len(value) <= 4096:
                    env[var] = value
                    if _PLAIN_LITERAL.match(rhs):
                        self.plain.add(var)    # a name written out whole is not 'computed'
                    else:
                        self.plain.discard(var)
        return env

    def computed_needs(self):
        """Variable names whose values computed() may look up (see fold_env)."""
        data = self.data
        need = set()
        for m in self.dyn_call_matches():
            if m.group(1) is not None:
                need.add(m.group(1))
            else:
                need.update(_VAR.findall(m.group(2)))
        for m in _BRACE_VAR.finditer(data):
            need.update(_VAR.findall(m.group(1)))
        for name in ('eval', 'assert'):
            for start, paren in self.calls.get(name, ())[:16]:
                need.update(_VAR.findall(_args(data, paren)))
        return need

    def computed(self):
        """Function names and code spelled from pieces, then called or evaluated."""
        data = self.data
        if b'$' not in data:
            return
        env = None
        for m in self.dyn_call_matches():
            if env is None:
                env = self.fold_env(self.computed_needs())
            if m.group(1) is not None:
                value = None if m.group(1) in self.plain else env.get(m.group(1))
                value = value if isinstance(value, bytes) else None
            else:
                value = decode.fold(m.group(2), env, self.scan.budget)
            if value is not None and value.strip().lower().lstrip(b'\\') in _DANGEROUS_BYTES:
                self.hit('php.call.computed_name', m.start(), key='computed',
                         text='calls %s: %s' % (value.strip().decode('latin-1'),
                                                _excerpt(data, m.start())))
                break
        for m in _BRACE_VAR.finditer(data):
            if env is None:
                env = self.fold_env(self.computed_needs())
            value = decode.fold(m.group(1), env, self.scan.budget)
            if value is not None and value.strip() in _SUPERGLOBALS:
                self.hit('php.obfuscation.hidden_input', m.start(), key='hiddeninput',
                         text='${...} names $%s' % value.strip().decode('latin-1'))
                break
        for name in ('eval', 'assert'):
            for start, paren in self.calls.get(name, ())[:16]:
                args = _args(data, paren)
                if b'$' not in args and b'^' not in args and not (
                        b'\\' in args and args.lstrip(b' \t\r\n@(')[:1] == b'"'):
                    continue                   # a plain literal, or escapes to undo: "\x65.."
                if env is None:
                    env = self.fold_env(self.computed_needs())
                value = decode.fold(args, env, self.scan.budget)
                if not value or self.depth >= 4 or b'(' not in value:
                    continue
                self.sub_code(value, start, '%s() of code built from pieces' % name)

    def sub_code(self, code, start, why):
        """Analyse `code` (text that this buffer evaluates) as PHP, its hits pointing at start."""
        before = len(self.scan.hits)
        origin = start if self.origin is None else self.origin
        _Php(self.scan, code, origin, self.depth + 1).run()
        if any(h.weight >= 4 for h in self.scan.hits[before:]):
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

    def worth_judging(self, pos, end):
        """Cheap look at the line: can the value at pos reach anything that matters?"""
        data = self.data
        parens = self.sink_parens
        i = bisect.bisect_left(parens, pos - 1500)
        while i < len(parens) and parens[i] < pos:
            if self.sink_close(parens[i]) > pos:
                return True                    # inside a sink call opened shortly before
            i += 1
        ls = max(data.rfind(b'\n', max(0, pos - 400), pos) + 1, pos - 400)
        prefix = data[ls:pos]
        if b'`' in prefix:
            return True
        last = prefix.rstrip()[-1:]
        if last in (b'(', b','):
            # An argument of some call.  The sink check above kept every site a sink call
            # encloses; what else judge() acts on: a call of a run-time name enclosing it,
            # backticks or an include the statement opened on an earlier line, and the
            # assignment checks below.  isset($_GET['x']), esc_attr(wp_unslash($_POST['y'])):
            # a sanitizer among the calls opened right before the value makes judge() drop it.
            if last == b'(' and b"'" not in prefix and b'"' not in prefix and \
                    self.sanitized_by_openers(prefix):
                return False
            if b'__invoke' in prefix or b'__INVOKE' in prefix:
                return True
            lo = max(0, pos - 1500)
            if self.in_dynamic_call(pos) or data.find(b'`', lo, pos) >= 0 or \
                    data.find(b'include', lo, pos) >= 0 or data.find(b'require', lo, pos) >= 0 or \
                    data.find(b'INCLUDE', lo, pos) >= 0 or data.find(b'REQUIRE', lo, pos) >= 0:
                return True
        low = prefix.lower()
        if b'include' in low or b'require' in low:
            return True
        if last == b'=' and b'->' in prefix and _PROP_ASSIGN_BEFORE.search(prefix):
            return True                        # a property given request input: judge() checks
                                               # whether the file calls that property
        if _CALLABLE_AFTER.match(data, end) or _SUBSCRIPT_AFTER.match(data, end):
            sub = _SUBSCRIPT_AFTER.match(data, end)
            if _CALLABLE_AFTER.match(data, sub.end() if sub else end):
                return True
        if b'=' in prefix or b'foreach' in low:
            # the value only spreads through variables, and a variable is followed no
            # further than the function definitions around it: worth it only when that
            # stretch of code has somewhere to take it
            lo, hi = self.region(pos)
            key = (lo, hi)
            if key not in self._region_live:
                i = bisect.bisect_left(self.sink_parens, lo)
                self._region_live[key] = i < len(self.sink_parens) and self.sink_parens[i] < hi or \
                    data.find(b'`', lo, hi) >= 0 or data.find(b'include', lo, hi) >= 0 or \
                    data.find(b'require', lo, hi) >= 0 or \
                    (self.dynamic_calls and
                     _DYNCALL_REV.search(self.rev_low, len(data) - hi, len(data) - lo) is not None) or \
                    (self.property_calls and data.find(b'->', lo, hi) >= 0)
            return self._region_live[key]
        return False

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

    def sink_close(self, paren):
        """Offset of the ')' closing the call opened at `paren` (cached); a call left open
        within _args' bound counts as open to the end."""
        close = self._sink_close.get(paren)
        if close is None:
            close = paren + 1 + len(_args(self.data, paren))
            if self.data[close:close + 1] != b')':
                close = len(self.data)
            self._sink_close[paren] = close
        return close

    @staticmethod
    def sanitized_by_openers(prefix):
        """Do the calls opened at the end of `prefix` ('f( g( ') include a sanitizer?"""
        rev = prefix[-240:][::-1]              # walk back opener by opener: a '$'-anchored
        i = 0                                  # search would try every start position
        while True:
            m = _OPENER_REV.match(rev, i)
            if m is None:
                return False
            if m.group(2) is None and m.group(3) is None and \
                    m.group(1)[::-1].lower().lstrip(b'\\').decode('latin-1') in SANITIZERS:
                return True
            i = m.end()

    def region(self, pos):
        """(lo, hi): the stretch around pos with no PHP function definition inside, the
        furthest a tainted variable is followed (see function_between)."""
        self.function_between(pos, pos)        # builds self._fdefs
        i = bisect.bisect_left(self._fdefs, pos)
        lo = self._fdefs[i - 1] if i > 0 else 0
        hi = self._fdefs[i] if i < len(self._fdefs) else len(self.data)
        return lo, hi

    def judge(self, pos, end, label, via):
        """Decide what the request value at data[pos:end] reaches; return variables it taints."""
        key = (pos, via)
        if key in self.done_sites:
            return ()
        self.done_sites.add(key)
        data = self.data
        if _in_comment(data, pos):
            return ()
        ctx = self.context(pos)
        frames = ctx.frames
        names = [f[0] for f in frames]
        sanitized = any(n in SANITIZERS for n in names) or \
            data[max(0, pos - 14):pos].replace(b' ', b'').lower().rstrip(b'(').endswith(
            (b'(int)', b'(float)', b'(bool)', b'(integer)', b'(double)', b'(boolean)'))
        rule = None
        if frames and frames[-1][0] == '[' and re.search(rb'\$(?!_)\w+\s*$', data[max(0, frames[-1][2] - 60):frames[-1][2]]):
            return ()                          # $jobs[$_GET['job']]: the code's own value, picked
        if not sanitized:
            for idx, (callee, argi, fpos) in enumerate(frames):
                if callee in CODE_SINKS:
                    rule = 'php.code.request_input'
                elif callee in OS_SINKS:
                    rule = 'php.exec.request_input'
                elif callee == 'preg_replace' and argi >= 1 and self.preg_e(frames, pos):
                    rule = 'php.code.request_input'
                elif callee in CALLBACKS and argi == CALLBACKS[callee] and \
                        all(n in PASS_THROUGH for n in names[idx + 1:]):
                    rule = 'php.call.request_function'
                elif callee in CALLBACKS and _is_dangerous_name(
                        _nth_arg(_args(data, fpos), CALLBACKS[callee])):
                    rule = 'php.code.request_input'   # array_map('assert', $_POST)
                elif callee == '$[]' or callee == '->__invoke':
                    # $a[0](..), ($this->h)(..), $this->h->__invoke(..): chosen at run time
                    self.hit('php.call.variable_function_input', pos, key='varfunc')
                    continue
                elif callee.startswith('$') and callee != '$this':
                    self.variable_function(callee[1:], pos)
                    continue
                elif callee in SQL_QUERIES and argi == SQL_QUERIES[callee] and \
                        all(n in PASS_THROUGH for n in names[idx + 1:]):
                    if _WHOLE_VALUE.match(_nth_arg(_args(data, fpos), argi) or b''):
                        self.hit('php.sql.request_query', pos, key='sql')
                    continue
                elif callee in SQL_LOGINS and argi in (SQL_LOGINS[callee], SQL_LOGINS[callee] + 1) \
                        and idx == len(frames) - 1:
                    self.hit('php.sql.request_login', pos, key='sqllogin')
                    continue
                elif callee in WRITES and argi == WRITES[callee]:
                    if label == 'php://input':
                        continue               # reading the request body, not a destination
                    if self.safe_destination(_nth_arg(_args(data, fpos), argi) or b''):
                        continue               # dir/'cron-' . $job . '.lock': no code can land
                    if callee == 'fopen':
                        mode = _nth_arg(_args(data, self.paren_before(pos)), 1)
                        if not mode or not re.match(rb'\s*[\'"][wacx]', mode):
                            continue
                    self.hit('php.write.request_path', pos, key='write:' + callee)
                    self.request_writes.append((callee, pos))
                    if '_COOKIE' in label or '_SERVER' in label and 'HTTP_' in label and \
                            'HTTP_HOST' not in label:
                        # forms name files in fields; a path riding in a cookie or a custom
                        # header is a control channel that no page shows (not Host: caches
                        # write under HTTP_HOST)
                        self.hit('php.write.request_path', pos, key='hiddenpath', weight=4,
                                 text='the destination comes from %s: %s' % (label, _excerpt(data, pos)))
                    self.unchecked_write(callee, pos)
                    if callee in ('move_uploaded_file', 'copy') and via is None and \
                            self.form_picks_directory(pos, end):
                        self.hit('php.write.request_path', pos, key='writedir',
                                 text='the page\'s own upload form chooses the directory: %s'
                                 % _excerpt(data, pos))
                    continue
                elif callee == 'mail':
                    self.hit('php.mailer.request_recipients', pos, key='mail')
                    chosen = self.__dict__.setdefault('_mail_args', {}).setdefault(fpos, set())
                    chosen.add(argi)
                    if len(chosen & {0, 3, 4}) >= 2:   # who gets it, and From: or -f sender
                        # contact forms mail a fixed address; the client picking both who gets
                        # it and who it claims to be from is a relay for spam and phishing
                        picked = ', '.join(w for i, w in ((0, 'recipient'), (3, 'headers (From:)'),
                                                          (4, 'envelope sender (-f)')) if i in chosen)
                        self.hit('php.mailer.request_recipients', pos, key='relay', weight=4,
                                 text='the request picks the %s: %s' % (picked, _excerpt(data, pos)))
                    lo = max(0, pos - 800)
                    if _LOOP_BEFORE.search(data[lo:pos].lower()):
                        self.hit('php.mailer.loop', pos, key='mailloop')
                    continue
                elif callee in ('extract', 'parse_str') and argi == 0 and via is None:
                    self.hit('php.request.extract', pos, key='extract')
                    self.extracted = True
                    continue
                else:
                    continue
                break
            if rule is None and ctx.in_backticks and not ctx.in_string:
                rule = 'php.exec.request_input'
            if rule is None and ctx.head.startswith(('include', 'require')):
                rule = 'php.include.request_input'
            if rule is None and via is None and not ctx.in_string and \
                    all(n in PASS_THROUGH for n in names):
                # $_GET['f']($_GET['a']): the client names the function
                sub = _SUBSCRIPT_AFTER.match(data, end)
                after = sub.end() if sub else end
                if _CALLABLE_AFTER.match(data, after) and data[after:after + 1] not in (b'',):
                    m = _CALLABLE_AFTER.match(data, after)
                    if m and (sub or label.startswith(('getallheaders', 'apache'))):
                        rule = 'php.call.request_function'
            if rule is None and via is not None and ctx.head != '=' + via and not ctx.in_string:
                # $f = $_GET['f']; $f(...)
                m = _CALLABLE_AFTER.match(data, end)
                if m and not data[max(0, pos - 2):pos] in (b'->', b'::'):
                    rule = 'php.call.request_function'
        if rule is None and not sanitized and not ctx.in_string and \
                all(n in PASS_THROUGH for n in names):
            # $obj->h = $_GET['f']; ... ($this->h)(..): the client names the function
            pm = _PROP_ASSIGN_BEFORE.search(data, max(0, pos - 120), pos)
            if pm and self.property_called(pm.group(1)):
                rule = 'php.call.request_function'
        if rule is not None:
            if rule == 'php.include.request_input' and via is not None:
                self.hit(rule, pos, weight=5)
            else:
                self.hit(rule, pos)
            return ()
        if sanitized:
            return ()
        out = []
        if label.count(' (from ') >= 2:
            return out                         # follow taint two assignments deep, no further
        if ctx.head.startswith('=') and all(n in PASS_THROUGH for n in names):
            var = ctx.head[1:]
            if var != via and not var.startswith('_') and var != 'GLOBALS' and \
                    not _picks_literal(data, end):
                out.append(var)
        elif ctx.head == 'foreach':
            m = _FOREACH_AS.match(data, end)
            if m:
                out.extend(v.decode('latin-1') for v in m.groups() if v)
        return out

    def property_called(self, prop):
        """Is the value of property `prop` called as a function somewhere in the file:
        ($x->prop)(..), $x->prop->__invoke(..), call_user_func($x->prop, ..)?"""
        p = re.escape(prop)
        return re.search(rb'\(\s*\$\w+\s*->\s*' + p + rb'\s*\)\s*\(|->\s*' + p +
                         rb'\s*->\s*__invoke\s*\(|call_user_func(?:_array)?\s*\(\s*\$\w+\s*->\s*' +
                         p + rb'\s*[,)]', self.data, re.I) is not None

    def form_picks_directory(self, pos, end):
        """Does the request value at pos open the destination (`$_POST['dir'] . '/' ..`)
        of an upload, named by a field of a file-upload form on the same page?  An uploader
        that lets its visitor choose the directory is a shell's tool; an application's
        upload goes to a directory the code fixes."""
        data = self.data
        if not data[max(0, pos - 40):pos].rstrip(b' \t\r\n(').endswith(b','):
            return False
        sub = _SUBSCRIPT_AFTER.match(data, end)
        if not sub or not re.match(rb'\s*\.', data[sub.end():sub.end() + 20]):
            return False
        key = re.match(rb'\s*\[\s*([\'"]?)(\w{1,40})\1\s*\]', sub.group(0))
        if not key or not _FILE_INPUT.search(self.low):
            return False
        field = key.group(2).lower()
        return any(m.group(1) == field for m in _FIELD_NAME_L.finditer(self.low))

    def paren_before(self, pos):
        """Offset of the '(' of the innermost call enclosing pos (approximate, bounded)."""
        best = -1
        for name in WRITES:
            for start, paren in self.calls.get(name, ()):
                if best < paren < pos:
                    best = paren
        return best if best >= 0 else pos

    def preg_e(self, frames, pos):
        for start, paren in self.calls.get('preg_replace', ()):
            if paren < pos and pos - paren < 2000 and self.regex_has_e(paren):
                return True
        return False

    def regex_has_e(self, paren):
        data = self.data
        i = paren + 1
        while i < len(data) and data[i:i + 1] in b' \t\r\n':
            i += 1
        value, end = decode.read_literal(data, i, limit=4096)
        if value is None and data[i:i + 1] not in (b"'", b'"'):   # chr(47).$a[2].chr(47).chr(101)
            arg = _nth_arg(_args(data, paren), 0) or b''
            if b'$' in arg or b'chr' in arg.lower():
                value = decode.fold(arg, self.fold_env(set(_VAR.findall(arg))), self.scan.budget)
        if not value or len(value) < 2:
            return False
        delim = value[:1]
        close = {b'(': b')', b'{': b'}', b'[': b']', b'<': b'>'}.get(delim, delim)
        j = value.rfind(close)
        return j > 0 and b'e' in value[j + 1:] and re.match(rb'^[a-zA-Z]*$', value[j + 1:]) is not None

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

    # Sinks that matter even without visible request input ----------------------------------
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

    def unset_inputs(self, args, start, rule_if_extracted):
        """Variables in the first argument that the file never sets: register_globals input."""
        first = _SANITIZED_CALL.sub(b'', _nth_arg(args, 0) or args)
        for vm in _VAR.finditer(first):
            v = vm.group(1).decode('latin-1')
            if v in ('this', 'GLOBALS') or v.startswith('_') or v in self.taint:
                continue
            if first[vm.end():vm.end() + 1] == b'[' or first[vm.end():vm.end() + 2] == b'->':
                continue                       # $config['path'], $obj->x: application state
                                               # from an included file, not a form field
            if self.extracted:
                self.hit(rule_if_extracted, start)
                return
            if not self.assigned(v):
                self.hit('php.exec.global_input', start,
                         text='$%s is never set here: %s' % (v, _excerpt(self.data, start)))
                return

    def sink_calls(self):
        data = self.data
        calls = self.calls
        kw_re = self.scan.engine._kw_re
        for name in CODE_SINKS:
            for start, paren in calls.get(name, ()):
                if _in_comment(data, start) or _in_literal(data, start):
                    continue                   # 'eval(base64_decode(' in a scanner's signatures
                args = _args(data, paren)
                if name == 'eval':
                    self.unset_inputs(args, start, 'php.code.request_input')
                if _DECODER_IN.search(args.lower()):
                    self.hit('php.code.decoded_input', start)
                    continue
                for var in set(_VAR.findall(args)):
                    v = var.decode('latin-1')
                    if any(_DECODER_IN.search(rhs.lower()) for _, rhs in self.assignments(v)):
                        self.hit('php.code.decoded_input', start)
                        break
                else:
                    if name != 'assert' and b'$' in args:
                        self.hit('php.code.eval_variable', start, key='evalvar')
        first_args = collections.defaultdict(set)   # first argument -> OS functions given it
        methods = {}
        for name in OS_SINKS:
            for start, paren in calls.get(name, ()):
                if _in_comment(data, start) or _in_literal(data, start):
                    continue
                args = _args(data, paren)
                methods.setdefault(name, start)
                first_args[re.sub(rb'\s+', b'', _nth_arg(args, 0) or b'')].add(name)
                self.hit('php.exec.call', start, key='exec')
                if b'REMOTE_ADDR' in args and b'REMOTE_PORT' in args:
                    # a program handed the client's own address and port: it connects back
                    self.hit('php.revshell.socket_shell', start,
                             text='command gets the client\'s address and port: %s' % _excerpt(data, start))
                self.unset_inputs(args, start, 'php.exec.request_input')
                if _DECODER_IN.search(args.lower()):
                    self.hit('php.code.decoded_input', start)
                if kw_re is not None:
                    self.keywords(args, start)
        if len(methods) >= 3:
            # Shells try every way to run THE SAME command; applications that wrap several
            # (a poller, a renderer) give each its own command line.
            same = max((len(v) for k, v in first_args.items() if k.startswith(b'$')), default=0)
            self.hit('php.exec.many_methods', min(methods.values()),
                     text=', '.join(sorted(methods)), weight=None if same >= 3 else 4)
        if b'`' in data and kw_re is not None:
            self.backtick_keywords()
        for name, idx in CALLBACKS.items():
            for start, paren in calls.get(name, ()):
                args = _args(data, paren)
                cb = _nth_arg(args, idx)
                # register_shutdown_function('array_map', 'passthru', [..]): the callback is
                # itself a callback-taker, whose own callback follows it
                inner = (_static_string(cb) or b'').strip().lower().decode('latin-1')
                if inner in CALLBACKS:
                    cb = _nth_arg(args, idx + 1 + CALLBACKS[inner])
                if _is_dangerous_name(cb):
                    self.hit('php.callback.dangerous_name', start)
                    if _CLIENT_INPUT.search(args):     # ..and the client gives the argument
                        self.hit('php.code.request_input', start, key='cbinput',
                                 text='a command function as callback, run on request input: %s'
                                 % _excerpt(data, start))
        for start, paren in calls.get('preg_replace', ()):
            if self.regex_has_e(paren):
                replacement = (_nth_arg(_args(data, paren, limit=1 << 20), 1) or b'').strip()
                # old applications gave /e a literal template; code in a variable or a call's
                # result is code from elsewhere, evaluated
                self.hit('php.preg_replace.eval_modifier', start,
                         weight=6 if replacement[:1] in (b"'", b'"') else 12)
                code = decode.fold(replacement, None, self.scan.budget)
                if code and b'(' in code and self.depth < 4:
                    self.sub_code(code, start, 'preg_replace /e')
        for start, paren in calls.get('ini_get', ()):
            if b'disable_functions' in data[paren:paren + 40].lower():
                self.hit('php.recon.environment', start, key='recon')

    def keywords(self, text, pos):
        seen = set()
        for m in self.scan.engine._kw_re.finditer(text.lower()):
            kw = m.group(1)
            if kw not in seen:
                seen.add(kw)
                self.hit('keyword.exec_context', pos, key=b'kw' + kw,
                         text='%s: %s' % (kw.decode('utf-8', 'replace'), _excerpt(self.data, pos)))

    def backtick_keywords(self):
        data = self.data
        i = data.find(b'`')
        n = 0
        while i >= 0 and n < 200:
            n += 1
            j = data.find(b'`', i + 1, i + 2000)
            if j < 0:
                break
            prev = data[max(0, i - 12):i].rstrip()
            if prev[-1:] in (b'=', b'(', b',', b';', b'.', b'?', b':') or \
                    prev.lower().endswith((b'echo', b'print', b'return')):
                body = data[i + 1:j]
                if b'\n' not in body[:200] and \
                        self.scan.engine._kw_re.search(body.lower()) is not None and \
                        not _in_comment(data, i) and not self.context(i).in_string:
                    self.keywords(body, i)     # (keywords first: context() is the dear part)
            i = data.find(b'`', j + 1)

    # Obfuscation -----------------------------------------------------------------------------
    def hidden_names(self):
        data = self.data
        if len(data) <= 262144 and (self.reported or (len(data) < 8192 and self.dynamic_calls)):
            self.split_names()
        for start, paren in self.calls.get('chr', ())[:64]:
            for pos, text in decode.chr_chains(data[start:start + 4000], limit=1):
                if _spells_dangerous(text):
                    self.hit('php.obfuscation.hidden_function', start,
                             text='chr() chain spells %r' % text[:60].decode('latin-1'))
        if b'\\x' in data or b'\\1' in data:
            i = data.find(b'\\')
            n = 0
            last_end = -1
            while i >= 0 and n < 200:
                nxt = data[i + 1:i + 2]
                if nxt in (b'x', b'1', b'0') and i > last_end:
                    n += 1
                    q = max(data.rfind(b'"', max(0, i - 300), i), -1)
                    if q >= 0:
                        value, end = decode.read_literal(data, q, limit=2000)
                        last_end = end
                        # the escape must lie inside that literal, and the name must not be
                        # written out plainly in it (then nothing is hidden)
                        if value and end > i and _spells_dangerous(value) and \
                                not _spells_dangerous(data[q + 1:end - 1]):
                            self.hit('php.obfuscation.hidden_function', q,
                                     text='escaped string spells %r' % value[:60].decode('latin-1'))
                            break
                    else:
                        last_end = i + 2
                i = data.find(b'\\', i + 2)

    def split_names(self):
        """Names like 'as'.'se'."rt": quoted pieces joined with dots whose joined value holds an
        execution function's name that no single piece holds.  Only runs of literals count:
        words of comments or code around them never join into a name."""
        data = self.data
        if b"'" not in data and b'"' not in data:
            return
        n = 0
        for m in _JOIN_RUN.finditer(data):
            n += 1
            if n > 2000:
                return
            pieces = [decode.read_literal(p.group(0), 0, limit=200)[0] or b''
                      for p in _JOIN_PIECE.finditer(m.group(0))]
            joined = b''.join(pieces).lower()
            found = _SPELLED_NAME.search(joined)
            if found and not any(found.group(1) in p.lower() for p in pieces):
                self.hit('php.obfuscation.hidden_function', m.start(), key='split',
                         text='%s is assembled from pieces' % found.group(1).decode())
                return

    def decoded(self):
        starts = sorted(s for name in DECODERS for s, _ in self.calls.get(name, ()))
        if not starts:
            return
        budget = self.scan.budget
        layers = decode.peel(self.data, budget, depth=1, starts=starts, min_depth=self.depth + 1)
        for layer in layers:
            pos = layer.pos
            if len(layer.chain) >= 2:
                self.hit('php.obfuscation.decoder_chain', pos, key='chain',
                         text='%s(...): %s' % ('('.join(layer.chain), _excerpt(self.data, pos)))
            if layer.literal_len >= 2048:
                self.hit('php.obfuscation.long_blob', pos, key='blob',
                         text='%d-byte literal decoded by %s' % (layer.literal_len, layer.chain[-1]))
            payload = layer.payload
            if payload.strip().lower() in _DANGEROUS_BYTES:
                self.hit('php.obfuscation.hidden_function', pos,
                         text='%s(...) gives %r' % (layer.chain[0], payload.strip()[:40].decode('latin-1')))
                continue
            if layer.depth - self.depth > 1:
                continue                     # inner layers are analysed through their parent
            if b'(' not in payload and b'`' not in payload:
                continue
            before = len(self.scan.hits)
            origin = pos if self.origin is None else self.origin
            sub = _Php(self.scan, payload, origin, self.depth + 1)
            sub.run()
            if any(h.weight >= 4 for h in self.scan.hits[before:]):
                self.hit('php.obfuscation.decoded_code', pos, key='decoded',
                         text='%s(...) hides code' % '('.join(layer.chain))

    def sockets_and_droppers(self):
        data = self.data
        calls = self.calls
        sock = [s for name in SOCKETS for s, _ in calls.get(name, ())]
        if sock or b'/dev/tcp/' in data:
            shell = _shell_str(self.low)
            if shell and (sock or calls.keys() & OS_SINKS):
                self.hit('php.revshell.socket_shell', min(sock) if sock else shell.start())
            elif sock:
                self.socket_commands()
        writes = calls.keys() & {'file_put_contents', 'fwrite', 'fputs', 'copy'}
        if writes:
            for name in FETCHES:
                for start, paren in calls.get(name, ()):
                    arg = data[paren + 1:paren + 40].lstrip().lower()
                    if arg[:5] in (b"'http", b'"http', b"'ftp:", b'"ftp:'):
                        if name != 'copy' and not (writes - {'copy'}) and 'copy' not in calls:
                            continue
                        self.hit('php.dropper.remote_write', start, key='dropper')
                        self.php_destination(writes)
        for callee, pos in self.request_writes:
            if self.writes_fetched(callee, pos):
                self.hit('php.dropper.remote_write', pos, key='dropper')
                break

    def wrapped_sinks(self):
        """run($_POST['c']) where `function run($cmd) { ... system($cmd) ... }`: shells and
        file managers hand the client's text to a helper that runs or writes it.  Taint does
        not cross function definitions (see sources); this links the two ends: a parameter
        that reaches an OS/code sink or a write's destination, and a call passing request
        input as that parameter."""
        data = self.data
        wrappers = {}                          # fname -> (param index, sink)
        writes_content = {}                    # fname -> param index of what a write stores
        for name in sorted(self.calls.keys() & (OS_SINKS | CODE_SINKS | {'file_put_contents', 'fopen'})):
            for start, paren in self.calls[name][:20]:
                m = self.function_above(start)
                if m is None:
                    continue
                params = re.findall(rb'\$(\w+)', m.group(2))
                args = _SANITIZED_CALL.sub(b'', _args(data, paren))   # escapeshellarg($p) is safe
                if name in WRITES:             # only the destination argument counts
                    if name == 'fopen' and not re.match(rb'\s*[\'"][wacx]', _nth_arg(args, 1) or b''):
                        continue
                    content = _nth_arg(args, 1) or b'' if name == 'file_put_contents' else b''
                    args = _nth_arg(args, 0) or b''
                for i, param in enumerate(params[:8]):
                    if re.search(rb'\$' + param + rb'(?!\w)', args):
                        wrappers.setdefault(m.group(1).lower(), (i, name))
                    elif name in WRITES and re.search(rb'\$' + param + rb'(?!\w)', content):
                        writes_content.setdefault(m.group(1).lower(), i)
            if len(wrappers) >= 8:
                break
        for fname, (index, sink) in wrappers.items():
            for cm in itertools.islice(re.finditer(rb'(?<![\w$>:])' + re.escape(fname) + rb'\s*\(',
                                                   self.low), 50):
                if _FUNC_BEFORE.search(data, max(0, cm.start() - 20), cm.start()):
                    continue                   # the definition itself
                args = _args(data, cm.end() - 1)
                arg = _SANITIZED_CALL.sub(b'', _nth_arg(args, index) or b'')
                if not self.request_value(arg) or _in_comment(data, cm.start()):
                    continue
                text = 'request input reaches %s() through %s(): %s' % (
                    sink, fname.decode('latin-1'), _excerpt(data, cm.start()))
                if sink in WRITES:
                    self.hit('php.write.request_path', cm.start(), key='wrapped-write', text=text)
                    if fname in writes_content and \
                            self.request_value(_nth_arg(args, writes_content[fname]) or b''):
                        self.unchecked_write('copy', cm.start())   # name and content: the client's
                    continue
                rule = 'php.exec.request_input' if sink in OS_SINKS else 'php.code.request_input'
                self.hit(rule, cm.start(), key='wrapped', text=text)
                return

    def closure_sinks(self):
        """array_reduce([$_GET['q']], function ($r, $i) { return `$i`; }): an anonymous
        function that runs its own parameter, handed to a callback-taking call (or an error /
        header / tick handler) in code that reads the request.  The client's value arrives as
        the parameter, where the taint walk (which stops at function definitions) cannot see it."""
        data = self.data
        sinks = sorted(start for name in self.calls.keys() & (OS_SINKS | CODE_SINKS)
                       for start, _ in self.calls[name][:20])
        for tick in (b'`$', b'`{$'):           # backticks around a variable (not SQL quoting)
            i = data.find(tick)
            while i >= 0 and len(sinks) < 80:
                sinks.append(i)
                i = data.find(tick, i + 2)
        heads = set()
        for pos in sinks:                      # the closure header nearest above each sink
            lo, hi = max(0, pos - 2000), pos
            for _ in range(8):
                j = max(data.rfind(b'function', lo, hi), data.rfind(b'fn', lo, hi))
                if j < 0:
                    break
                if _CLOSURE_HEAD.match(data, j) is not None:
                    heads.add(j)
                    break
                hi = j
        for j in sorted(heads)[:32]:
            m = _CLOSURE_HEAD.match(data, j)
            params = re.findall(rb'\$(\w+)', m.group(1) or m.group(2) or b'')
            if not params:
                continue
            if m.group(1) is not None:         # function (..) { body }
                body = data[m.end() - 1:m.end() - 1 + 8192]
                body = body[:_block_end(body)]
            else:                              # fn (..) => expression
                body = _STATEMENT_REST.match(data, m.end(), m.end() + 600).group(0)
            sink = _CLOSURE_SINK.search(body)   # (assert() of a type check is not code)
            if sink is None:
                continue
            used = _SANITIZED_CALL.sub(b'', body[sink.start():sink.start() + 400])
            if not any(re.search(rb'\$' + p + rb'(?!\w)', used) for p in params):
                continue
            # the client's value must be around: in the statement that hands the closure on,
            # or anywhere in a script of a few KB
            lo = max(data.rfind(b';', max(0, m.start() - 2000), m.start()),
                     data.rfind(b'{', max(0, m.start() - 2000), m.start()), 0)
            stmt = data[lo:m.start()] + data[m.end() - 1 + len(body):m.end() + len(body) + 400]
            if 'small_code' not in self.__dict__:
                self.small_code = _php_code(data, 4096)
            code, where = self.small_code
            if _CLIENT_INPUT.search(stmt) or where is not None and _CLIENT_INPUT.search(code):
                runs_code = sink.group(2) is not None or sink.group(1) is not None and \
                    sink.group(1).lower() in (b'eval', b'create_function')
                self.hit('php.code.request_input' if runs_code else 'php.exec.request_input',
                         m.start(), key='closure',
                         text='an anonymous function runs its parameter (%s) in code that reads '
                              'the request: %s' % (sink.group(0).strip()[:20].decode('latin-1'),
                                                   _excerpt(data, m.start())))
                return

    def gadgets(self):
        """unserialize() of request data in a file that defines a class whose magic method
        (__wakeup, __destruct, __toString...) runs code: the object the client sends picks what
        runs.  A backdoor disguised as a cache, or an object-injection shell."""
        data = self.data
        for m in itertools.islice(_MAGIC_METHOD.finditer(data), 16):
            body = data[m.end() - 1:m.end() - 1 + 8192]
            if not _CLOSURE_SINK.search(body[:_block_end(body)]) and not \
                    _DYN_CALL.search(body[:_block_end(body)]):
                continue
            for u in itertools.islice(_UNSERIALIZE.finditer(data), 16):
                if _CLIENT_INPUT.search(_args(data, u.end() - 1)):
                    self.hit('php.code.request_input', u.start(), key='gadget',
                             text='request data unserialized next to %s(), which runs code: %s' % (
                                 m.group(1).decode('latin-1'), _excerpt(data, u.start())))
                    return
            return

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

    def socket_commands(self):
        """A command read from a network socket and run: a bind or reverse shell that never
        names /bin/sh (shell_exec($line) after socket_read)."""
        data = self.data
        for name in sorted(self.calls.keys() & OS_SINKS):
            for start, paren in self.calls[name][:20]:
                args = _args(data, paren)
                if _SOCKET_READ.search(args) or any(
                        _SOCKET_READ.search(rhs) for var in set(_VAR.findall(args))
                        for _, rhs in self.assignments(var.decode('latin-1'), limit=4)):
                    self.hit('php.revshell.socket_shell', start,
                             text='runs what it reads from a socket: %s' % _excerpt(data, start))
                    return

    def php_destination(self, writes):
        """Next to a remote fetch, a write whose destination is a literal PHP file name:
        the dropper installs code, not data (updaters unpack zips into directories)."""
        data = self.data
        for name in ('file_put_contents', 'fopen', 'copy'):
            for start, paren in self.calls.get(name, ())[:16]:
                dest = _nth_arg(_args(data, paren), 1 if name == 'copy' else 0) or b''
                if _PHP_DEST.match(dest):
                    self.hit('php.dropper.remote_write', start, key='phpdest', weight=5,
                             text='writes a PHP file: %s' % _excerpt(data, start))
                    return

    def writes_fetched(self, callee, pos):
        """Does the write to a client-chosen path at pos store content fetched from a URL
        (a literal http/ftp one or one the request names)?  That is a dropper whatever the
        URL: the client picks both what lands on disk and where."""
        data = self.data
        paren = self.paren_before(pos)
        args = _args(data, paren)
        if callee == 'copy':
            return self.remote_source(_nth_arg(args, 0), 1)
        if callee == 'file_put_contents':
            contents = [_nth_arg(args, 1)]
        elif callee == 'fopen':
            contents = [_nth_arg(_args(data, p), 1)
                        for name in ('fwrite', 'fputs') for _, p in self.calls.get(name, ())]
        else:
            return False
        return any(self.fetched(c, 1) for c in contents if c)

    def fetched(self, expr, depth):
        """Is `expr` (or a variable it names, followed `depth` assignments back) the
        result of fetching a remote or request-named source?"""
        for m in _FETCH_CALL.finditer(expr):
            name = m.group(1).lower()
            if name == b'curl_exec':
                if any(self.remote_source(_nth_arg(_args(self.data, p), 0), 1)
                       for _, p in self.calls.get('curl_init', ())) or \
                        _CURL_URL_REQ.search(self.data):
                    return True
                continue
            if self.remote_source(_nth_arg(_args(expr, m.end() - 1), 0), 1):
                return True
        return depth > 0 and self.via_assignments(expr, depth, self.fetched)

    def via_assignments(self, expr, depth, test):
        """test(value, depth - 1) over the values assigned to the variables of `expr`."""
        for var in set(_VAR.findall(expr)):
            if var.startswith(b'_') or var == b'this':
                continue
            for _, rhs in self.assignments(var.decode('latin-1'), limit=4):
                if test(rhs, depth - 1):
                    return True
        return False

    def remote_source(self, expr, depth):
        """A URL literal, request input, or a variable holding either (depth steps back)."""
        if not expr:
            return False
        e = expr.lstrip().lower()
        if e[:5] in (b"'http", b'"http', b"'ftp:", b'"ftp:') or _REQ_SUPER.search(expr):
            return True
        if b'(' in e and (b'pack' in e or b'hex2bin' in e or b'base64_decode' in e or b'strrev' in e):
            url = decode.fold(expr, self.fold_env(set(_VAR.findall(expr))), self.scan.budget)
            if url and url.lstrip()[:6].lower() in (b'http:/', b'https:', b'ftp://'):
                return True                    # a URL spelled in hex/base64/reverse
        return depth > 0 and self.via_assignments(expr, depth, self.remote_source)


# Text just before a $var that gives it a value: foreach (.. as $k => $v), by-reference,
# global/static declarations, function parameters, list(), catch (E $e).
_BINDS_BEFORE = re.compile(
    rb'(?:\bas\s*(?:&\s*)?|=>\s*(?:&\s*)?|&\s*|\bglobal\s[^;]{0,200}|\bstatic\s+|'
    rb'\bfunction\b[^{;]{0,250}|\bfn\s*\([^)]{0,200}|\blist\s*\([^)]{0,200}|\[[^\]=;]{0,200}|'
    rb'\bcatch\s*\([^)]{0,100}|\buse\s*\([^)]{0,200})$', re.I)
_DANGEROUS_BYTES = frozenset(n.encode() for n in DANGEROUS_NAMES)
_EXEC_BYTES = frozenset(n.encode() for n in CODE_SINKS | OS_SINKS | {
    'call_user_func', 'call_user_func_array', 'preg_replace', 'file_put_contents'})
_SPELLED_CALL = re.compile(('(?<![a-z0-9_])(?:%s)\\s*\\(' % '|'.join(sorted(DANGEROUS_NAMES))).encode())


# the right-hand side may hold quoted ';' ("eval($_POST[x]);" built from pieces)
_ASSIGN_FAST = re.compile(rb'\$([A-Za-z_][A-Za-z0-9_]*)\s*=(?![=>])\s*([^;]{1,2000});')
# a statement's right-hand side up to its ';', quoted strings read whole (they may hold ';')
_RHS = (rb'((?:[^;\'"]|\'[^\'\\]{0,8000}(?:\\.[^\'\\]{0,8000}){0,500}\'|'
        rb'"[^"\\]{0,8000}(?:\\.[^"\\]{0,8000}){0,500}"){1,2000});')
_ASSIGN_ANY = re.compile(rb'\$([A-Za-z_][A-Za-z0-9_]*)\s*=(?![=>])\s*' + _RHS)
_APPEND_ANY = re.compile(rb'\$([A-Za-z_][A-Za-z0-9_]*)\s*\.=\s*' + _RHS)
# $name( or ${expr}( or $$x( : a call of a function named at run time
_DYN_CALL = re.compile(rb'\$(?<![\w>:$]\$)(?:([A-Za-z_]\w*)|\{([^{}]{1,400})\})'
                       rb'\s*(?:/\*.{0,40}?\*/\s*)*\(', re.S)
# A PHP function definition (JavaScript ones in the page take no $parameters): taint does
# not cross one (roughly: a function's locals are not the top-level code's).
_PHP_FUNCTION = re.compile(rb'function(?<![\w$>:]function)\s*&?\s*\w*\s*\(\s*(?:\)\s*(?::\s*\??[\w\\]+\s*)?\{|[\w\\?|]*\s*&?\s*(?:\.\.\.)?\$)')
_LEADING_COMMENTS = re.compile(rb'(?:\s+|//[^\n]*|\#(?!\[)[^\n]*|/\*.*?\*/)*', re.S)
_COND_HEAD = re.compile(rb'\s*(?:else\s*)?(?:if|elseif|while)\s*\(', re.I)
_PLAIN_LITERAL = re.compile(rb'\s*([\'"])[A-Za-z_\\]\w*\1\s*$')
_BRACE_VAR = re.compile(rb'\$\{([^{}]{1,400})\}', re.S)
_SUPERGLOBALS = frozenset((b'_GET', b'_POST', b'_REQUEST', b'_COOKIE', b'_SERVER', b'_FILES',
                           b'_SESSION', b'GLOBALS'))
_SANITIZED_CALL = re.compile(rb'(?i)(?:escapeshellarg|escapeshellcmd|intval|basename|(?:int))\s*\([^()]*\)')
_DYNCALL = re.compile(rb'\$[A-Za-z_]\w*\s*\(|[\]\)]\s*\(\s*\$')
_BLOCK_COMMENT = re.compile(rb'/\*.*?\*/', re.S)
_SPLIT_NAMES = tuple(n.encode() for n in sorted(DANGEROUS_NAMES) if len(n) >= 6)
# A run of two or more short quoted literals joined with dots ('sys' . "tem").
_PIECE = rb"""(?:'(?:[^'"\\\s$]|\\.){0,40}'|"(?:[^'"\\\s$]|\\.){0,40}")"""
_JOIN_RUN = re.compile(_PIECE + rb'(?:\s*\.\s*' + _PIECE + rb'){1,40}')
_JOIN_PIECE = re.compile(_PIECE)
_SPELLED_NAME = re.compile(('(?<![a-z0-9_])(%s)(?![a-z0-9_])'
                            % '|'.join(sorted(DANGEROUS_NAMES, key=len, reverse=True))).encode())


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


_FILE_INPUT = re.compile(rb'<input[^>]{0,200}type\s*=\s*[\'"]?file\b')
_FETCH_CALL = re.compile(rb'(?<![\w$>:])(file_get_contents|curl_exec|file|fopen|stream_get_contents)\s*\(', re.I)
_REQ_SUPER = re.compile(rb'\$_(?:GET|POST|REQUEST|COOKIE)\b|\$HTTP_(?:GET|POST)_VARS\b|'
                        rb'\$_SERVER\s*\[\s*[\'"]HTTP_(?!HOST\b)')
_CURL_URL_REQ = re.compile(rb'CURLOPT_URL\s*,\s*[^;)]{0,80}\$_(?:GET|POST|REQUEST|COOKIE)\b')
_TERNARY_PICK = re.compile(rb'[^?;]{1,300}\?(?![?>])\s*([\'"][^\'"\n]{0,120}[\'"])\s*:\s*'
                           rb'([\'"][^\'"\n]{0,120}[\'"])\s*$')


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
