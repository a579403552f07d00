"""Code that arrives hidden: decoder chains over literals, hex- and escape-spelled code, packers
that ship their own decoder, encrypted payloads decrypted from request input.

Decoded code is analysed again as PHP (its hits point at the literal it came from), so the
other families see what actually runs.
"""
import binascii
import itertools
import re

from newfilewatch.detect import decode
from newfilewatch.detect import weights
from newfilewatch.detect.calls import (
    CODE_SINKS, DECODERS, _ALL_CALL_BYTES, _DANGEROUS_BYTES, _EXEC_BYTES)
from newfilewatch.detect.phptext import (
    _FUNC_BEFORE, _VAR, _args, _block_end, _excerpt, _hex_code, _in_comment, _include_calls,
    _lowered, _nth_arg, _span)


_B64_NAME = re.compile(rb'[\'"]([A-Za-z0-9+/]{6,40}={0,2})[\'"]')
_HEX_NAME = re.compile(rb'[\'"]((?:[0-9a-fA-F]{2}){3,40})[\'"]')


# Decryption of a body: openssl/mcrypt, or a byte-wise XOR loop of two indexed strings.
_DECRYPT = re.compile(rb'(?<![\w>:$])(?:openssl_decrypt|mcrypt_decrypt|mdecrypt_generic|sodium_crypto_secretbox_open)\s*\('
                      rb'|\$\w+\s*\[\s*\$\w+[^\]\n]{0,20}\]\s*(?:\^|\bxor\b)\s*\$\w+\s*\['
                      rb'|(?<![\w>:$])ord\s*\(\s*\$\w+\s*\[[^\]\n]{1,20}\]\s*\)\s*\^'
                      rb'|\$\w+\s*\[\s*\$\w+\s*\]\s*\^\s*(?:chr|\$)', re.I)
_BODY_INPUT = re.compile(rb'php://input|\$_(?:POST|REQUEST|COOKIE|GET|SESSION)\b|HTTP_RAW_POST_DATA|getallheaders', re.I)
# A URL literal read by a fetching call: code taken from another server.
_REMOTE_FETCH = re.compile(rb'(?<![\w>:$])(?:file_get_contents|curl_exec|fopen|file|fsockopen)\s*\(', re.I)
_URL_LITERAL = re.compile(rb'[\'"](?:https?|ftp)://[^\'"\s]{4,200}[\'"]', re.I)
_DECODE_PRIMITIVE = re.compile(
    rb'(?<![\w>:$])(?:chr|ord|hexdec|base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|strrev|'
    rb'convert_uudecode|hex2bin|pack|bindec|octdec)\s*\(|\^\s*\$|\$\w+(?:\[[^\]\n]{0,40}\])?\s*\^|\bxor\b', re.I)
_NAMED_CALL = re.compile(rb'(?<![\w$>:\\])([A-Za-z_]\w*)\s*\(')
_DECRYPT_L = _lowered(_DECRYPT)
_BODY_INPUT_L = _lowered(_BODY_INPUT)
_REMOTE_FETCH_L = _lowered(_REMOTE_FETCH)
_URL_LITERAL_L = _lowered(_URL_LITERAL)


class HiddenCode(object):
    """The _Php rules for encoded, encrypted and self-decoding payloads."""

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
            sub = type(self)(self.scan, payload, origin, self.depth + 1)
            sub.run()
            if any(h.weight >= weights.DECODED_CODE_EVIDENCE for h in self.scan.hits[before:]):
                self.hit('php.obfuscation.decoded_code', pos, key='decoded',
                         text='%s(...) hides code' % '('.join(layer.chain))
