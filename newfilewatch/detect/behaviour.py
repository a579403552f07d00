"""Malware that is not a command shell, judged by what it does with its data.

Skimmers, phishing kits, droppers and SEO-spam loaders run no `system()`; what gives them
away is where their data goes:

* card data or passwords taken from the request and sent away (mail, a URL, a file, a
  cookie) rather than checked: a skimmer or a phishing kit's mailer;
* files written whose content is PHP code or server configuration (an `.htaccess` that
  rewrites to a doorway or makes images run as PHP): a dropper or an SEO loader;
* covering tracks: a script that deletes itself or back-dates files.

Each reads the token Analysis (folding and taint) of the file; nothing here touches bytes.
"""
import re

# request keys that name payment card data / secrets (the key is what the FORM asks for)
_CARD_KEY = re.compile(rb'(?i)^(cc_?(num|number|cid|cvv|cvc|exp\w*|owner|type)|card_?(num|number|no|code|cvv|holder|exp\w*)|'
                       rb'cvv2?|cvc2?|ccnumber|creditcard|credit_card\w*|payment)$')
_SECRET_KEY = re.compile(rb'(?i)^(pass|passwd|password|pwd|pw|pass_?word\d?|login_?pass\w*|user_?pass\w*|pin|'
                         rb'email_?pass\w*|passe|senha|contrase\w*|mdp|otp|sms_?code|ssn)$')
_FINGERPRINT = frozenset((b'REMOTE_ADDR', b'HTTP_USER_AGENT', b'HTTP_X_FORWARDED_FOR', b'HTTP_CLIENT_IP'))
# calls that send data away from the server, with the index of the data argument(s)
EXFIL = {b'mail': (0, 1, 2, 3), b'wp_mail': (0, 1, 2), b'file_put_contents': (1,), b'fwrite': (1,),
         b'fputs': (1,), b'setcookie': (1,), b'curl_setopt': (2,), b'file_get_contents': (0,),
         b'fopen': (0,), b'fsockopen': (0,), b'socket_write': (1,), b'error_log': (0, 3),
         b'header': (0,), b'get_headers': (0,), b'curl_init': (0,), b'file': (0,)}
_HANDLER = re.compile(rb'(?im)^\s*(RewriteRule\s|AddHandler\s|AddType\s+application/x-httpd-php|SetHandler\s|'
                      rb'php_value\s+auto_(?:ap|pre)pend_file|ErrorDocument\s+40[34]\s)')
_PHP_CODE = re.compile(rb'<\?php|<\?=|\beval\s*\(|\bsystem\s*\(|\bbase64_decode\s*\(|\$_(?:GET|POST|REQUEST|COOKIE)\b')
# what makes written code a payload rather than an application's generated file
_PAYLOAD = re.compile(rb'\b(?:eval|assert|system|exec|passthru|shell_exec|popen|proc_open|create_function|'
                      rb'base64_decode|gzinflate|str_rot13|move_uploaded_file)\s*\(|`\s*\$')
_REQUEST = re.compile(rb'\$_(?:GET|POST|REQUEST|COOKIE|FILES)\b|php://input')
WRITES = {b'file_put_contents': (0, 1), b'fwrite': (None, 1), b'fputs': (None, 1)}


def secret_source(an, k):
    """Token k is a $_POST/$_GET/$_REQUEST/$_COOKIE element whose literal key (at any depth)
    names card data ('card') or a secret ('secret'); else None."""
    toks = an.toks
    t = toks[k]
    if t[0] != 'V' or t[1] not in (b'_POST', b'_GET', b'_REQUEST', b'_COOKIE', b'HTTP_POST_VARS'):
        return None
    m, kind, n = k + 1, None, len(toks)
    while m + 2 < n and toks[m][1] == b'[' and toks[m + 1][0] == 'S' and toks[m + 2][1] == b']':
        key = toks[m + 1][1]
        if _CARD_KEY.match(key):
            kind = 'card'
        elif kind is None and _SECRET_KEY.match(key):
            kind = 'secret'
        m += 3
    return kind


def run(an):
    """Findings (rule, pos, text) of the non-shell families for one Analysis."""
    out = []
    _exfiltration(an, out)
    _writes(an, out)
    _fetch_and_write(an, out)
    _tracks(an, out)
    _key_gate(an, out)
    _odd_includes(an, out)
    return out


_FETCHERS = frozenset((b'file_get_contents', b'file', b'fopen', b'readfile', b'fsockopen',
                       b'stream_get_contents_x'))
_HEX_DIGEST = re.compile(rb'^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$')
_ODD_INCLUDE = re.compile(rb'(?i)\.(?:ico|png|jpe?g|gif|bmp|svg|txt|log|bak|tmp|dat|db|css|js|json|zip|mp3|ttf|woff2?)$')
_ESCAPE = re.compile(rb'\\(?:x[0-9a-fA-F]{1,2}|[0-7]{2,3})')


def _is_url_literal(t):
    if t[0] == 'S':
        return t[1][:6].lower() in (b'http:/', b'https:', b'ftp://')
    if t[0] == 'T' and t[1] and isinstance(t[1][0], bytes):
        return t[1][0][:6].lower() in (b'http:/', b'https:', b'ftp://')
    return False


def _fetch_source(an):
    """call_source predicate: curl_exec(), or a read of a literal URL (directly or through
    the variable holding it)."""
    toks = an.toks
    url_vars = set()
    for a in an.p.assigns:
        if a.rhs[0] < a.rhs[1] and _is_url_literal(toks[a.rhs[0]]) and isinstance(a.target, bytes):
            url_vars.add(a.target)

    def pred(k):
        name = toks[k][1]
        if name == b'curl_exec':
            return True
        if name in _FETCHERS and k + 2 < len(toks):
            arg = toks[k + 2]
            return _is_url_literal(arg) or arg[0] == 'V' and arg[1] in url_vars
        return False
    return pred


def _fetch_and_write(an, out):
    """Code fetched from elsewhere written into a file here: a loader."""
    toks = an.toks
    if not any(t[0] == 'I' and (t[1] == b'curl_exec' or t[1] in _FETCHERS) for t in toks):
        return
    writes = [c for c in an.p.calls if c.kind == 'name' and c.name in WRITES and len(c.args) >= 2]
    if not writes:
        return
    fetched = an.restricted(lambda k: False, _fetch_source(an))
    for c in writes:
        path_idx, data_idx = WRITES[c.name]
        s, e = c.args[data_idx]
        if fetched.tainted_range(s, e, c.scope) < 0:
            continue
        php = False
        if path_idx is not None:
            ps, pe = c.args[path_idx]
            last = toks[pe - 1]
            v, _f = an.fold((ps, pe), c.scope)
            php = isinstance(v, bytes) and v.lower().endswith((b'.php', b'.phtml', b'.php5')) or \
                last[0] == 'S' and last[1].lower().endswith((b'.php', b'.phtml'))
        out.append(('php.dropper.fetched_php' if php else 'php.dropper.remote_write', c.pos,
                    'writes what it fetched from a URL into %s' % ('a .php file' if php else 'a file')))


def _key_gate(an, out):
    """Request input compared with a hard-coded digest: the password of a backdoor."""
    toks = an.toks
    n = len(toks)
    direct = None
    for k, t in enumerate(toks):
        if t[0] != 'S' or not _HEX_DIGEST.match(t[1]):
            continue
        lo, hi = max(0, k - 14), min(n, k + 14)
        if not any(toks[m][0] == 'O' and toks[m][1] in (b'==', b'===', b'!=', b'!==') or
                   toks[m][0] == 'I' and toks[m][1] in (b'hash_equals', b'strcmp') for m in range(lo, hi)):
            continue
        for m in range(lo, hi):
            tm = toks[m]
            if tm[0] == 'V':
                if tm[1] in (b'_GET', b'_POST', b'_REQUEST', b'_COOKIE', b'_SERVER'):
                    hit = tm[1] != b'_SERVER' or an.source_at(m, an.p.scope[m])
                else:
                    direct = direct or an.direct()
                    hit = (an.p.scope[m], tm[1]) in direct.tainted
                if hit:
                    out.append(('php.backdoor.hardcoded_key', t[2],
                                'request input is checked against a hard-coded digest'))
                    return


def _odd_includes(an, out):
    toks, data = an.toks, an.data
    for c in an.p.calls:
        if c.kind != 'name' or c.name not in (b'include', b'include_once', b'require', b'require_once') or not c.args:
            continue
        s, e = c.args[0]
        v, _f = an.fold((s, e), c.scope)
        if not isinstance(v, bytes):
            continue
        raw = data[toks[s][2]:toks[e - 1][2] + 2 + len(v) * 4] if e > s else b''
        escaped = len(_ESCAPE.findall(raw[:4096])) >= 4
        if _ODD_INCLUDE.search(v.strip()):
            out.append(('php.include.hidden_file', c.pos,
                        'runs a file that is not a PHP script as PHP: %s' % _show(v)))
        elif escaped:
            out.append(('php.include.escaped_path', c.pos,
                        'includes a path spelled in escapes: %s' % _show(v)))


def _exfiltration(an, out):
    toks = an.toks
    card = any(t[0] == 'V' and secret_source(an, k) == 'card' for k, t in enumerate(toks))
    secret = card or any(t[0] == 'V' and secret_source(an, k) for k, t in enumerate(toks))
    if not secret:
        return
    sec = an.restricted(lambda k: secret_source(an, k) is not None)
    profile = any(t[0] == 'S' and t[1] in _FINGERPRINT for t in toks)
    for c in an.p.calls:
        if c.kind != 'name' or c.name not in EXFIL:
            continue
        for idx in EXFIL[c.name]:
            if idx >= len(c.args):
                continue
            s, e = c.args[idx]
            pos = sec.tainted_range(s, e, c.scope)
            if pos < 0:
                continue
            kind = 'card' if card else 'secret'
            if c.name in (b'file_get_contents', b'fopen', b'file', b'get_headers', b'curl_init', b'header') and \
                    not _url_call(an, c):
                continue
            if kind == 'card':
                out.append(('php.steal.card_data', c.pos,
                            'payment card fields from the request go to %s()' % c.name.decode()))
            else:
                out.append(('php.steal.credentials', c.pos,
                            'passwords from the request go to %s()' % c.name.decode()))
            if profile:
                out.append(('php.steal.victim_profile', c.pos,
                            'the victim\'s address and browser are recorded with them'))
            break


def _url_call(an, c):
    """Does the call's first argument start with a literal http(s) URL (data leaves the host)?"""
    if not c.args:
        return False
    t = an.toks[c.args[0][0]]
    if t[0] == 'V' and c.args[0][1] - c.args[0][0] == 1:
        for a in an.p.assigns:                 # $u = 'http://...' . $data; fetch($u)
            if a.target == t[1] and a.scope == c.scope and a.rhs[0] < a.rhs[1]:
                t = an.toks[a.rhs[0]]
                break
    if t[0] == 'S':
        return t[1][:4].lower() == b'http' or t[1][:8].lower() == b'location'
    if t[0] == 'T' and t[1] and isinstance(t[1][0], bytes):
        return t[1][0][:4].lower() == b'http' or t[1][0][:8].lower() == b'location'
    return False


def _writes(an, out):
    handles = {}
    for c in an.p.calls:
        if c.kind == 'name' and c.name == b'fopen' and c.args:
            handles[c.pos] = c
    for c in an.p.calls:
        if c.kind != 'name' or c.name not in WRITES or len(c.args) < 2:
            continue
        path_idx, data_idx = WRITES[c.name]
        data, f = an.fold(c.args[data_idx], c.scope)
        if not isinstance(data, bytes) or len(data) < 12:
            continue
        path = None
        if path_idx is not None:
            path, _f = an.fold(c.args[path_idx], c.scope)
        decoded = bool(f and (f.used_decoder or f.used_bitwise))
        if _HANDLER.search(data[:65536]) and (path is None or not isinstance(path, bytes) or
                                              b'htaccess' in path.lower() or b'.user.ini' in path.lower()):
            out.append(('php.dropper.server_config', c.pos,
                        'writes server configuration (rewrite/handler rules): ' +
                        _HANDLER.search(data[:65536]).group(0).strip().decode('latin-1')))
            continue
        head = data[:65536]
        if _PHP_CODE.search(head) and _PAYLOAD.search(head):
            if decoded or _REQUEST.search(head):
                out.append(('php.dropper.writes_code', c.pos,
                            'writes %sPHP code to %s' % ('decoded ' if decoded else '',
                                                          _show(path) if isinstance(path, bytes) else 'a file')))
                an.payloads.append((c.pos, data, True))


def _tracks(an, out):
    toks = an.toks
    for c in an.p.calls:
        if c.kind != 'name' or not c.args:
            continue
        if c.name == b'unlink':
            s, e = c.args[0]
            names = [toks[k][1] for k in range(s, e)]
            if e - s == 1 and names[0] == b'__file__' or \
                    b'_SERVER' in names and any(toks[k][0] == 'S' and toks[k][1] == b'SCRIPT_FILENAME' for k in range(s, e)):
                out.append(('php.dropper.self_delete', c.pos, 'the script deletes itself'))
        elif c.name == b'touch' and len(c.args) >= 2:
            s, e = c.args[1]
            words = [toks[k][1] for k in range(s, e) if toks[k][0] == 'I']
            v, _f = an.fold(c.args[1], c.scope)
            if b'filemtime' in words or b'strtotime' in words or b'mktime' in words or \
                    isinstance(v, int) and 0 < v < 1700000000:
                out.append(('php.dropper.timestomp', c.pos, 'back-dates a file (touch with a chosen time)'))


def _show(v):
    return v[:80].decode('latin-1')
