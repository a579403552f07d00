"""The vocabulary of the byte-level PHP rules: which calls run code, run commands, decode, take
callbacks, write files, talk SQL or sockets, and which ones clean or pass input through.

One place so every rule family (and the triage regexes built from these names) agrees on what
"a sink" or "a decoder" is.
"""
from newfilewatch.detect import decode


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


# A user-defined function (PHP keywords are case-insensitive), and what decoding looks like.
_ALL_CALL_BYTES = frozenset(n.encode() for n in _ALL_CALLS)
_DANGEROUS_BYTES = frozenset(n.encode() for n in DANGEROUS_NAMES)
_EXEC_BYTES = frozenset(n.encode() for n in CODE_SINKS | OS_SINKS | {
    'call_user_func', 'call_user_func_array', 'preg_replace', 'file_put_contents'})
