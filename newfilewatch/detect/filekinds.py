"""Files that must not hold code, and server code that is not PHP: images with an open tag,
.htaccess/.user.ini handlers and prepends, CGI scripts, ASP/ASPX and JSP pages.

Each file kind is decided by its name first (`_kind`), because an image or a config file
holding code is the finding itself, whatever the code does.
"""
import os
import re

from newfilewatch.detect.phptext import _excerpt, _printable, _shell_str


IMAGE_EXTS = frozenset('jpg jpeg png gif ico bmp webp tif tiff svg avif heic psd'.split())
TEXT_EXTS = frozenset('txt log csv md rst json xml yml yaml ini conf css map po pot'.split())
PHP_EXTS = frozenset('php phtml php3 php4 php5 php7 php8 pht phar inc phps'.split())
CGI_EXTS = frozenset('pl pm py cgi sh bash rb'.split())
ASP_EXTS = frozenset('asp aspx ashx asmx asa cer cdx ascx'.split())
JSP_EXTS = frozenset('jsp jspx jspf'.split())
CONFIG_NAMES = frozenset(('.htaccess', '.user.ini', 'php.ini', 'htaccess'))

_CONFIG_LINE = re.compile(
    rb'^[ \t]*(addtype|addhandler|sethandler|forcetype|php_value|php_admin_value|'
    rb'auto_prepend_file|auto_append_file|<files(?:match)?|</files(?:match)?|'
    rb'<directory|</directory)\b[ \t]*(.*)$', re.I | re.M)
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
_IMAGE_MARK = re.compile(rb'<\?(?:php\b|=|\s)', re.I)


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


class FileKinds(object):
    """The _Scan rules for images, config files, CGI, ASP and JSP: kind-specific, so they read only a head of the file."""

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
                    self.hit('htaccess.auto_prepend', data, m.start(),
                             variant='odd_target' if odd else None)

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
