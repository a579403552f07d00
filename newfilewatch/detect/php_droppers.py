"""Droppers, uploaders and reverse shells: content fetched from a URL and written to disk,
uploads to client-chosen paths, writes no check guards, sockets handed to a shell.

These describe where code or data goes (a file in the web root, a shell on a socket), which
is what a loader does whatever it is called.
"""
import re

from newfilewatch.detect import decode
from newfilewatch.detect.calls import FETCHES, OS_SINKS, SOCKETS
from newfilewatch.detect.phptext import (
    _REQ_SUPER, _STATEMENT_REST, _VAR, _args, _excerpt, _in_comment, _nth_arg, _php_code,
    _shell_str)


_SOCKET_READ = re.compile(rb'(?i)(?<![\w>:$])(?:socket_read|socket_recv|stream_socket_recvfrom|fgets|fread|'
                          rb'stream_get_line)\s*\(')
_INCLUDE_STMT = re.compile(rb'(?<![\w$>:])(?i:include|require)(?i:_once)?\b')
_TEMP_FILE = re.compile(rb'(?i)(?<![\w$>])(?:tempnam|tmpfile|sys_get_temp_dir)\s*\(|[\'"]/tmp/')
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
_FETCH_CALL = re.compile(rb'(?<![\w$>:])(file_get_contents|curl_exec|file|fopen|stream_get_contents)\s*\(', re.I)
_CURL_URL_REQ = re.compile(rb'CURLOPT_URL\s*,\s*[^;)]{0,80}\$_(?:GET|POST|REQUEST|COOKIE)\b')


class Droppers(object):
    """The _Php rules for fetch-and-write, uploads and socket shells."""

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
                    self.hit('php.dropper.remote_write', start, key='phpdest',
                             variant='php_destination',
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
