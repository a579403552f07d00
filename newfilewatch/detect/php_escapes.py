"""Ways out of the account the site runs as: the system's user list and other users' homes
(config grabbers, symlink attacks), safe_mode/open_basedir/disable_functions bypasses,
Windows COM objects that run programs, listeners, SQL that writes files, admin backdoors.

Each pattern is looked for only when a literal it needs is in the (reversed) file, so the
family costs nothing on files without those literals.
"""
import itertools
import re

from newfilewatch.detect import decode
from newfilewatch.detect.calls import _EXEC_BYTES
from newfilewatch.detect.phptext import (
    _VAR, _block_end, _excerpt, _in_comment, _match_near, _static_string)


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


class AccountEscapes(object):
    """The _Scan rules that look for escapes from the site account; gated on needles in the reversed copy."""

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
                variant = 'runs_programs'
            elif name.startswith((b'iis://', b'winnt://')):
                variant = 'enumerates_server'  # the server's sites, their accounts, passwords
            elif name.startswith(b'wscript.network'):
                variant = 'network_probe'
            else:
                continue
            if not _in_comment(data, m.start()):
                self.hit('php.exec.com_object', data, m.start(), variant=variant,
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
                self.hit('php.callback.dangerous_name', data, m.start(), variant='xslt_expression',
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
                             variant='ld_preload' if needle == b'daolerp_dl' else
                             'aimed_by_request' if aimed else None)
                    return
