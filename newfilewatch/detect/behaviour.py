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
    """Token k starts a read of card data ('card') or a secret ('secret'): a variable whose
    chain of subscripts, properties and accessor calls names such a field, whatever the
    framework ($_POST['cc_number'], $pay['cc_cid'], $this->request->post['cc_cvv2'],
    $this->getRequest()->getParam('payment')); else None."""
    toks = an.toks
    t = toks[k]
    if t[0] != 'V':
        return None
    if k > 0 and toks[k - 1][1] in (b'->', b'::'):
        return None
    m, kind, n, steps = k + 1, None, len(toks), 0
    request = t[1] in _REQUEST_VARS
    while m < n and steps < 10:
        steps += 1
        v = toks[m][1]
        if v in (b'->', b'?->', b'::') and m + 1 < n and toks[m + 1][0] == 'I':
            request = request or toks[m + 1][1] in _REQUEST_ACCESSORS
            m += 2
            continue
        if v in (b'[', b'(') and toks[m][0] == 'O':
            close = an.p.match[m]
            if close <= m:
                break
            if m + 1 < close and toks[m + 1][0] == 'S':
                key = toks[m + 1][1]
                if _CARD_KEY.match(key):
                    kind = 'card'
                elif kind is None and _SECRET_KEY.match(key):
                    kind = 'secret'
            m = close + 1
            continue
        break
    if kind is None or kind == 'secret' and not request:
        return None         # passwords live in many objects (HTTP clients, DB configs)
    # a write TO the field ($data['cc_number'] = ...) is not a read of it
    if m < n and toks[m][0] == 'O' and toks[m][1] in (b'=', b'.='):
        return None
    return kind


_REQUEST_VARS = frozenset((b'_POST', b'_GET', b'_REQUEST', b'_COOKIE', b'HTTP_POST_VARS', b'HTTP_GET_VARS'))
_REQUEST_ACCESSORS = frozenset((b'request', b'getrequest', b'post', b'getpost', b'getparam', b'getparams',
                                b'input', b'query', b'get_param', b'get_body_params', b'param'))
# Encoding does not make stolen data any less stolen: these pass it on in the stealer taint.
_ENCODERS = frozenset((b'base64_encode', b'json_encode', b'serialize', b'http_build_query',
                       b'urlencode', b'rawurlencode', b'bin2hex', b'strrev', b'str_rot13',
                       b'implode', b'join', b'sprintf', b'trim', b'var_export', b'print_r'))


def run(an):
    """Findings (rule, pos, text) of the non-shell families for one Analysis."""
    out = []
    _exfiltration(an, out)
    _whole_request(an, out)
    _writes(an, out)
    _fetch_and_write(an, out)
    _request_to_media(an, out)
    _cloaking(an, out)
    _script_for_searchers(an, out)
    _js_skimmer(an, out)
    _admin_creator(an, out)
    _tracks(an, out)
    _key_gate(an, out)
    _odd_includes(an, out)
    return out


_FETCHERS = frozenset((b'file_get_contents', b'file', b'fopen', b'readfile', b'fsockopen',
                       b'wp_remote_get', b'wp_remote_post', b'wp_remote_request', b'wp_safe_remote_get',
                       b'download_url'))
_HEX_DIGEST = re.compile(rb'^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$')
_ODD_INCLUDE = re.compile(rb'(?i)\.(?:ico|png|jpe?g|gif|bmp|svg|txt|log|bak|tmp|dat|db|css|js|json|zip|mp3|ttf|woff2?)$')
_MEDIA_INCLUDE = re.compile(rb'(?i)\.(?:ico|png|jpe?g|gif|bmp|svg|webp|mp3|mp4|ttf|otf|woff2?|eot)$')
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

    memo = {}

    def pred(k):
        name = toks[k][1]
        if name == b'curl_exec':
            return True
        if name in _FETCHERS and k + 2 < len(toks):
            arg = toks[k + 2]
            if _is_url_literal(arg) or arg[0] == 'V' and arg[1] in url_vars:
                return True
            if k not in memo:                  # self::URL . $x, base64_decode('aHR0cDov...')
                e = an.p.expr_end(k + 2, stop=(b',', b')'))
                v, _f = an.fold((k + 2, e), an.p.scope[k])
                if not isinstance(v, bytes):            # the leading operand: the URL's start
                    d = an.p.expr_end(k + 2, stop=(b'.', b',', b')'))
                    v, _f = an.fold((k + 2, min(d, e)), an.p.scope[k])
                if not isinstance(v, bytes):
                    v = _pieces(an, (k + 2, e), an.p.scope[k])
                memo[k] = v.lstrip()[:6].lower() in (b'http:/', b'https:', b'ftp://')
            return memo[k]
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
    written = {}                      # path variable -> the write that put fetched code there
    for c in writes:
        path_idx, data_idx = WRITES[c.name]
        s, e = c.args[data_idx]
        if fetched.tainted_range(s, e, c.scope) < 0:
            continue
        php = False
        if path_idx is not None:
            ps, pe = c.args[path_idx]
            v, _f = an.fold((ps, pe), c.scope)
            if not isinstance(v, bytes):
                v = _pieces(an, (ps, pe), c.scope)      # DOCUMENT_ROOT . '/x.php': the code's part
            php = v.strip().lower().endswith((b'.php', b'.phtml', b'.php5', b'.phar'))
        if path_idx is not None and c.args[path_idx][1] - c.args[path_idx][0] == 1 and \
                toks[c.args[path_idx][0]][0] == 'V':
            written[(c.scope, toks[c.args[path_idx][0]][1])] = c
        if php:                        # other files: the byte rules' php.dropper.remote_write
            out.append(('php.dropper.fetched_php', c.pos, 'writes what it fetched from a URL into a .php file'))
    for c in an.p.calls:               # ... and then runs it: include $tmp
        if c.kind == 'name' and c.name in (b'include', b'include_once', b'require', b'require_once') and \
                c.args and c.args[0][1] - c.args[0][0] == 1:
            t = toks[c.args[0][0]]
            if t[0] == 'V' and (c.scope, t[1]) in written:
                out.append(('php.code.fetched_code', c.pos, 'includes the file it just wrote with code fetched from a URL'))
                break


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
        if _MEDIA_INCLUDE.search(v.strip()):
            out.append(('php.include.media_file', c.pos,
                        'runs an icon/image/font as PHP: %s' % _show(v)))
        elif _ODD_INCLUDE.search(v.strip()):
            out.append(('php.include.hidden_file', c.pos,
                        'runs a file that is not a PHP script as PHP: %s' % _show(v)))
        elif escaped:
            out.append(('php.include.escaped_path', c.pos,
                        'includes a path spelled in escapes: %s' % _show(v)))


def _whole_request(an, out):
    """The whole request ($_POST, $_REQUEST, $_COOKIE as one value) encoded and sent to a
    URL, or mailed to an address written in the code: a sniffer that takes every form at once.
    (Debug logs of $_POST to a local file are common and are not this.)"""
    toks = an.toks
    n = len(toks)

    def whole(k):
        t = toks[k]
        return t[0] == 'V' and t[1] in (b'_POST', b'_REQUEST', b'_COOKIE', b'_GET') and \
            (k + 1 >= n or toks[k + 1][1] != b'[')
    if not any(whole(k) for k in range(n)):
        return
    sent = None
    fetch = None
    for c in an.p.calls:
        if c.kind != 'name' or not c.args:
            continue
        if c.name in (b'curl_setopt', b'stream_context_create', b'file_get_contents', b'fsockopen',
                      b'fwrite', b'fputs', b'mail', b'wp_remote_post', b'wp_remote_get'):
            if sent is None:
                sent = an.restricted(whole, pass_through=an.pass_through | _ENCODERS)
                fetch = _fetch_source(an)
            for s, e in c.args:
                if sent.tainted_range(s, e, c.scope) < 0:
                    continue
                if c.name == b'mail':
                    ok = _literal_address(an, c)
                else:
                    # encoded on the way out (here, or where the value sent was made), and a
                    # literal URL is fetched or posted to in the same function
                    ok = _encoded_here(an, c.scope, s, e) and any(
                        an.p.scope[k] == c.scope and (
                            t[0] == 'I' and k + 1 < n and toks[k + 1][1] == b'(' and fetch(k) or
                            t[0] == 'S' and t[1][:7].lower() in (b'http://', b'https:/'))
                        for k, t in enumerate(toks))
                if ok:
                    out.append(('php.steal.whole_request', c.pos,
                                'the whole request (every form field) is encoded and sent away'))
                    if any(t[0] == 'S' and t[1] in _FINGERPRINT for t in toks):
                        out.append(('php.steal.victim_profile', c.pos,
                                    "the victim's address and browser are sent with it"))
                    return


_ENCODING_CALLS = frozenset((b'base64_encode', b'strrev', b'str_rot13', b'bin2hex', b'gzdeflate',
                             b'gzcompress', b'gzencode'))


def _encoded_here(an, scope, s, e, depth=0):
    """Is the value in toks[s:e] encoded, directly or where its variables were assigned?"""
    toks = an.toks
    for k in range(s, e):
        t = toks[k]
        if t[0] == 'I' and t[1] in _ENCODING_CALLS:
            return True
        if t[0] == 'V' and depth < 2:
            for a in an._assigns_of.get((scope, t[1]), ())[:4]:
                if _encoded_here(an, scope, a.rhs[0], a.rhs[1], depth + 1):
                    return True
    return False


def _exfiltration(an, out):
    toks = an.toks
    kinds = set(secret_source(an, k) for k, t in enumerate(toks) if t[0] == 'V')   # one pass
    card = 'card' in kinds
    secret = card or 'secret' in kinds
    by_name = any(t[0] == 'V' and _SECRET_KEY.match(t[1]) for t in toks)
    if not secret and not by_name:
        return
    sec = an.restricted(lambda k: secret_source(an, k) is not None,
                        pass_through=an.pass_through | _ENCODERS)
    named = None                    # $password itself (a hook's parameter, a form's field)
    profile = any(t[0] == 'S' and t[1] in _FINGERPRINT for t in toks)
    for c in an.p.calls:
        if c.kind != 'name' or c.name not in EXFIL:
            continue
        for idx in EXFIL[c.name]:
            if idx >= len(c.args):
                continue
            s, e = c.args[idx]
            pos = sec.tainted_range(s, e, c.scope)
            if pos < 0 and by_name and c.name in (b'mail', b'wp_mail') and _literal_address(an, c):
                # a variable named like a password, mailed to an address written in the code
                if named is None:
                    named = an.restricted(lambda k: toks[k][0] == 'V' and bool(_SECRET_KEY.match(toks[k][1])),
                                          pass_through=an.pass_through | _ENCODERS)
                pos = named.tainted_range(s, e, c.scope)
            if pos < 0:
                continue
            kind = 'card' if card else 'secret'
            if kind == 'secret' and c.name in (b'setcookie', b'header'):
                continue                  # logins keep their own session: not sending away
            if c.name in (b'file_get_contents', b'fopen', b'file', b'get_headers', b'curl_init', b'header') and \
                    not _url_call(an, c):
                continue
            if c.name == b'curl_setopt' and not _disguised(an, c, s, e):
                continue                  # a gateway POSTing the card to its API does this too
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


def _literal_address(an, c):
    """Is the recipient an address written in the code (not the user's own)?"""
    if not c.args:
        return False
    v, _f = an.fold(c.args[0], c.scope)
    return isinstance(v, bytes) and b'@' in v and b' ' not in v.strip()


def _disguised(an, c, s, e):
    """Card data sent by curl the way a skimmer does it (encoded, or to a plain-http URL),
    not the way a payment gateway does (form fields or JSON over https)."""
    toks = an.toks
    words = set(toks[k][1] for k in range(s, e) if toks[k][0] == 'I')
    if words & {b'base64_encode', b'strrev', b'str_rot13', b'bin2hex', b'gzdeflate', b'gzcompress'}:
        return True
    return any(t[0] == 'S' and t[1][:7].lower() == b'http://' for t in toks)


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
        path = None
        if path_idx is not None:
            path, _f = an.fold(c.args[path_idx], c.scope)
        if not isinstance(data, bytes):
            # $rules . $old: judge the pieces the code wrote itself
            rules = _pieces(an, c.args[data_idx], c.scope)
            where = path if isinstance(path, bytes) else _pieces(an, c.args[path_idx], c.scope) \
                if path_idx is not None else b''
            m = _HANDLER.search(rules[:65536])
            if m and (b'htaccess' in where.lower() or b'.user.ini' in where.lower()):
                out.append(('php.dropper.server_config', c.pos,
                            'writes server configuration (rewrite/handler rules): ' +
                            m.group(0).strip().decode('latin-1')))
            continue
        if len(data) < 12:
            continue
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


_MEDIA_NAME = re.compile(rb'(?i)\.(?:jpe?g|png|gif|ico|bmp|svg|webp|css|js|woff2?|ttf|mp[34])$')


def _request_to_media(an, out):
    """Request data appended to a file named like an image or a stylesheet: a stealer's
    drop box hidden among static files (skimmers log cards into cartcheckout.jpg)."""
    toks = an.toks
    handles = {}
    for a in an.p.assigns:
        if isinstance(a.target, bytes) and a.rhs[1] - a.rhs[0] >= 3 and toks[a.rhs[0]][1] == b'fopen':
            handles[(a.scope, a.target)] = a
    for c in an.p.calls:
        if c.kind != 'name' or c.name not in WRITES or len(c.args) < 2:
            continue
        path_rng = None
        if c.name == b'file_put_contents':
            path_rng = c.args[0]
        else:
            s, e = c.args[0]
            if e - s == 1 and toks[s][0] == 'V' and (c.scope, toks[s][1]) in handles:
                a = handles[(c.scope, toks[s][1])]
                args = an.p.split_args(a.rhs[0] + 1)
                path_rng = args[0] if args else None
        if path_rng is None:
            continue
        path, _f = an.fold(path_rng, c.scope)
        if not isinstance(path, bytes) or not _MEDIA_NAME.search(path.strip()):
            continue
        s, e = c.args[1]
        if an.tainted_range(s, e, c.scope) >= 0:
            out.append(('php.steal.hidden_log', c.pos,
                        'writes request data into %s, a file named like a static asset' % _show(path)))
            return


def _pieces(an, rng, scope, depth=0):
    """The literal text an expression is built from: its strings and the folded values of
    its variables, joined (for judging content that does not fold as a whole)."""
    toks = an.toks
    out = []
    for k in range(rng[0], min(rng[1], rng[0] + 200)):
        t = toks[k]
        if t[0] == 'S':
            out.append(t[1])
        elif t[0] == 'T':
            out.extend(p for p in t[1] if isinstance(p, bytes))
        elif t[0] == 'V':
            v = an.folder(scope).lookup(t[1])
            if isinstance(v, bytes):
                out.append(v)
            elif depth < 2:
                for a in an._assigns_of.get((scope, t[1]), ())[:4]:
                    out.append(_pieces(an, a.rhs, scope, depth + 1))
    return b'\n'.join(out)


_CRAWLERS = re.compile(rb'(?i)googlebot|bingbot|slurp|yandex|baiduspider|duckduckbot|msnbot|adsbot|mediapartners|'
                       rb'spider|crawl')
_ENGINES = re.compile(rb'(?i)google|bing|yahoo|yandex|baidu|msn|aol|duckduckgo')


def _names_engines(text):
    """A crawler's name, or two search engines named together ('google|bing|yahoo')."""
    return bool(_CRAWLERS.search(text)) or len(set(m.group(0).lower() for m in _ENGINES.finditer(text))) >= 2
_CLOAK_KEYS = frozenset((b'HTTP_USER_AGENT', b'HTTP_REFERER'))


def _cloaking(an, out):
    """Search engines served something else than visitors: the User-Agent or Referer is
    compared with crawler/search names and the file fetches remote content or redirects
    away.  (Sites check for bots too, but not to hand them a page from elsewhere.)"""
    toks = an.toks
    ua = [t for t in toks if t[0] == 'S' and t[1] in _CLOAK_KEYS]
    if not ua:
        return
    # a redirect counts for visitors sent by a search engine (Referer), not for crawlers
    # turned away (User-Agent only: sites block bots that way)
    referer = any(t[1] == b'HTTP_REFERER' for t in ua)
    bots = [k for k, t in enumerate(toks) if t[0] == 'S' and len(t[1]) < 200 and _names_engines(t[1])]
    short = [k for k, t in enumerate(toks) if t[0] == 'S' and len(t[1]) < 40 and _ENGINES.search(t[1])]
    if len(set(_ENGINES.search(toks[k][1]).group(0).lower() for k in short)) >= 2:
        bots.extend(short)                  # stripos($ref, 'google.') ... stripos($ref, 'bing.')
    if not bots:
        return
    fetch = _fetch_source(an)
    scope = an.p.scope
    near = set()
    for b in bots:                      # what the crawler test decides: the code around it
        for k in range(max(0, b - 200), min(len(toks), b + 600)):
            if scope[k] == scope[b]:
                near.add(k)
    for b in bots:                      # a crawler test in a function: where the function is called
        f = an.p.by_id.get(scope[b])
        if f is not None and f.name:
            for c in an.p.calls:
                if c.kind == 'name' and c.name == f.name:
                    near.update(range(c.paren, min(len(toks), c.paren + 400)))
    for k, t in enumerate(toks):
        if t[0] != 'I' or k + 1 >= len(toks) or toks[k + 1][1] != b'(' or k not in near:
            continue
        if fetch(k) and _served(an, fetch, k):
            out.append(('php.seo.cloaking', t[2],
                        'serves search-engine crawlers (User-Agent/Referer) content fetched from elsewhere'))
            return
        if t[1] == b'header' and referer and k + 2 < len(toks) and toks[k + 2][0] in ('S', 'T'):
            first = toks[k + 2][1] if toks[k + 2][0] == 'S' else (toks[k + 2][1][0] if isinstance(toks[k + 2][1][0], bytes) else b'')
            if first[:9].lower() == b'location:' and b'http' in first.lower():
                out.append(('php.seo.cloaking', t[2],
                            'sends visitors coming from search engines to another site'))
                return


_CAP_CHECKS = frozenset((b'current_user_can', b'user_can', b'is_super_admin', b'check_admin_referer',
                         b'check_ajax_referer', b'wp_verify_nonce', b'is_user_logged_in', b'is_admin'))


def _admin_creator(an, out):
    """An administrator account made where the request decides and nobody is checked:
    the code path a backdoor adds to a theme or plugin."""
    toks = an.toks
    scope = an.p.scope
    for c in an.p.calls:
        if c.kind != 'method' or c.name not in (b'set_role', b'add_role') or not c.args:
            continue
        s, e = c.args[0]
        if not (e - s == 1 and toks[s][0] == 'S' and toks[s][1].lower() == b'administrator'):
            continue
        sc = c.scope
        body = [k for k in range(len(toks)) if scope[k] == sc] if sc else range(len(toks))
        names = set(toks[k][1] for k in body if toks[k][0] in ('I', 'V'))
        if names & _CAP_CHECKS or not names & {b'wp_create_user', b'wp_insert_user'}:
            continue
        if any(toks[k][0] == 'V' and an.source_at(k, sc) for k in body):
            out.append(('php.backdoor.admin_account', c.pos,
                        'creates an administrator when a request asks, with no capability check'))
            return


def _served(an, fetch, k):
    """Is what the fetch at k returned printed into the page (echo, print, exit)?"""
    toks = an.toks
    if an._fetched is None:
        an._fetched = an.restricted(lambda m: False, fetch)
    for m, t in enumerate(toks):
        if t[0] == 'I' and t[1] in (b'echo', b'print', b'exit', b'die'):
            e = an.p.expr_end(m + 1)
            if an._fetched.tainted_range(m + 1, e, an.p.scope[m]) >= 0:
                return True
    return False


_SCRIPT_REDIRECT = re.compile(rb'(?is)<script.{0,4000}?(?:location|atob\s*\(|eval\s*\(|document\.write)')


def _script_for_searchers(an, out):
    """A script echoed only to visitors from search engines (or only to crawlers): the
    cloaking half of SEO spam done in the browser (a JavaScript redirect)."""
    toks = an.toks
    if not any(t[0] == 'S' and t[1] in _CLOAK_KEYS for t in toks):
        return
    names = set()
    for t in toks:
        if t[0] == 'S' and len(t[1]) < 200:
            names.update(m.group(0).lower() for m in _ENGINES.finditer(t[1]))
            if _CRAWLERS.search(t[1]):
                names.add(b'crawler')
    if len(names) < 2 and b'crawler' not in names:
        return
    for k, t in enumerate(toks):
        if t[0] == 'I' and t[1] in (b'echo', b'print'):
            e = an.p.expr_end(k + 1)
            text = _pieces(an, (k + 1, e), an.p.scope[k])
            if _SCRIPT_REDIRECT.search(text):
                out.append(('php.seo.cloaking', t[2],
                            'echoes a redirecting script to visitors chosen by User-Agent/Referer'))
                return


# in-page JavaScript that collects form fields and beacons them away when they look like cards
_JS_GRAB = re.compile(rb'(?i)querySelectorAll\s*\(|getElementsByTagName\s*\(|\.elements\b|FormData\s*\(')
_JS_SEND = re.compile(rb'(?i)new\s+Image\b|sendBeacon\s*\(|new\s+WebSocket\b')
_JS_CARD = re.compile(rb'(?i)cvv|cvc|cc_?num|card.?num|cc_|creditcard|card\|')
_JS_PACK = re.compile(rb'(?i)btoa\s*\(|encodeURIComponent\s*\(|JSON\.stringify\s*\(')


def _js_skimmer(an, out):
    toks = an.toks
    for t in toks:
        if t[0] in ('H', 'S') and len(t[1]) >= 80:
            text = t[1][:200000]
            if _JS_SEND.search(text) and _JS_GRAB.search(text) and _JS_CARD.search(text) and \
                    _JS_PACK.search(text):
                out.append(('js.skimmer', t[2], 'page script collects form fields that look like '
                                                'card data and beacons them to another host'))
                return


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
            if e - s == 1 and toks[s][0] == 'V':         # $mt = filemtime($other); touch($f, $mt)
                for a in an._assigns_of.get((c.scope, toks[s][1]), ())[:4]:
                    words.extend(toks[k][1] for k in range(*a.rhs) if toks[k][0] == 'I')
            v, _f = an.fold(c.args[1], c.scope)
            minus = any(toks[k][1] == b'-' for k in range(s, e))
            if b'filemtime' in words or b'strtotime' in words or b'mktime' in words or \
                    b'time' in words and minus or \
                    isinstance(v, int) and 0 < v < 1700000000:
                out.append(('php.dropper.timestomp', c.pos, 'back-dates a file (touch with a chosen time)'))


def _show(v):
    return v[:80].decode('latin-1')
