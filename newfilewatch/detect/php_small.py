"""Short scripts and code written without letters: one-line shells that read request input and
call code chosen at run time, and names built from punctuation (XOR/NOT of symbols, $__++).

Size is the evidence here: application code that calls through a variable does so inside a
framework, in files with much else going on.
"""
import re

from newfilewatch.detect import decode
from newfilewatch.detect.calls import CALLBACKS
from newfilewatch.detect.phptext import (
    _STRINGS_ANY, _args, _in_literal, _nth_arg, _php_code, _returns_callee, _spells_dangerous)


_SMALL_REQ = re.compile(
    rb'\$_(?:GET|POST|REQUEST|COOKIE|FILES)\b|\$_SERVER\s*\[\s*[\'"](?:HTTP_|QUERY|PHP_AUTH|argv)|'
    rb'\$HTTP_\w+_VARS|php://input|getallheaders|apache_request_headers|'
    rb'\$\{|[\'"]_(?:P|G|R|C|S|PO|GE|RE|CO|SE)[\'"]\s*\.|[\'"]_(?:POST|GET|REQUEST|COOKIE|SERVER)[\'"]', re.I)
_SYMBOL_VAR = re.compile(rb'_+$')
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
_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
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
    rb'array_(?:u?diff|u?intersect)_u(?:key|assoc)|array_u(?:diff|intersect)(?:_u?assoc)?|'
    rb'iterator_apply|preg_replace_callback)(?=\s*\([^;]{0,300}\$)'
    rb'|->\s*__invoke(?=\s*\([^;]{0,300}\$)'
    # f(..)(..) / (expr)(..): the value of an expression called as a function (not a cast)
    rb'|(?<=[\w\'"\])])(?<!\(int)(?<!\(integer)(?<!\(string)(?<!\(array)(?<!\(bool)'
    rb'(?<!\(boolean)(?<!\(float)(?<!\(double)(?<!\(object)(?<!\(binary)(?<!\(unset)'
    rb'(?<!\(real)(?P<expr>\))\s*\((?=\s*@?\$)', re.I)
_LITERAL_ARRAY = re.compile(rb'\s*(?:array\s*\(|\[)[^$()]*[)\]]\s*$', re.I)
_CB_NAME = re.compile(rb'([A-Za-z_]\w*)\s*$')
_CLOSURE = re.compile(rb'\s*(?:static\s+)?(?:function|fn)\s*\(', re.I)
# [$this, 'm'], [$controller, $action]: a method of an object the code holds (a dispatcher)
_METHOD_CALLBACK = re.compile(rb'\s*(?:\[|array\s*\()\s*(?:\$this|self::|static::|__CLASS__|\$\w+\s*,)', re.I)


_TERNARY_PICK = re.compile(rb'[^?;]{1,300}\?(?![?>])\s*([\'"][^\'"\n]{0,120}[\'"])\s*:\s*'
                           rb'([\'"][^\'"\n]{0,120}[\'"])\s*$')


class SmallScripts(object):
    """The _Scan rules for small dynamic scripts and symbol-only code, run on the whole (small) file before the per-call rules."""

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
        if not any(not _in_literal(data, where(m.start())) for m in _SMALL_REQ.finditer(code)):
            return                             # "\${$name}" in a message is text, not input
        for m in _SMALL_DYN.finditer(code):
            if _in_literal(data, where(m.start())):
                continue                       # 'eval(' in a string is text
            if m.group('var') is not None:
                var = m.group('var')
                if var.lower() in (b'this', b'class', b'obj', b'object'):
                    continue
                if re.search(rb'\bnew\s+$', code[max(0, m.start() - 8):m.start()], re.I):
                    continue                   # new $class(): an instance, not a call
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
                 variant='built_and_sparse' if sparse and len(builds) >= 2 else None)

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
