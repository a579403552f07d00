"""Names built at run time: execution functions spelled indirectly (escapes, chr() chains,
'sys'.'tem', reversed or decoded literals) and function names folded from pieces then called.

Folding is bounded (decode.Budget) and works on literals only: nothing is ever evaluated.
"""
import collections
import itertools
import re

from newfilewatch.detect import decode
from newfilewatch.detect.calls import DANGEROUS_NAMES, _DANGEROUS_BYTES
from newfilewatch.detect.phptext import _VAR, _args, _excerpt, _spells_dangerous


# the right-hand side may hold quoted ';' ("eval($_POST[x]);" built from pieces)
_ASSIGN_FAST = re.compile(rb'\$([A-Za-z_][A-Za-z0-9_]*)\s*=(?![=>])\s*([^;]{1,2000});')
# a statement's right-hand side up to its ';', quoted strings read whole (they may hold ';')
_RHS = (rb'((?:[^;\'"]|\'[^\'\\]{0,8000}(?:\\.[^\'\\]{0,8000}){0,500}\'|'
        rb'"[^"\\]{0,8000}(?:\\.[^"\\]{0,8000}){0,500}"){1,2000});')
_ASSIGN_ANY = re.compile(rb'\$([A-Za-z_][A-Za-z0-9_]*)\s*=(?![=>])\s*' + _RHS)
_APPEND_ANY = re.compile(rb'\$([A-Za-z_][A-Za-z0-9_]*)\s*\.=\s*' + _RHS)
_PLAIN_LITERAL = re.compile(rb'\s*([\'"])[A-Za-z_\\]\w*\1\s*$')
_BRACE_VAR = re.compile(rb'\$\{([^{}]{1,400})\}', re.S)
_SUPERGLOBALS = frozenset((b'_GET', b'_POST', b'_REQUEST', b'_COOKIE', b'_SERVER', b'_FILES',
                           b'_SESSION', b'GLOBALS'))
# A run of two or more short quoted literals joined with dots ('sys' . "tem").
_PIECE = rb"""(?:'(?:[^'"\\\s$]|\\.){0,40}'|"(?:[^'"\\\s$]|\\.){0,40}")"""
_JOIN_RUN = re.compile(_PIECE + rb'(?:\s*\.\s*' + _PIECE + rb'){1,40}')
_JOIN_PIECE = re.compile(_PIECE)
_SPELLED_NAME = re.compile(('(?<![a-z0-9_])(%s)(?![a-z0-9_])'
                            % '|'.join(sorted(DANGEROUS_NAMES, key=len, reverse=True))).encode())


class BuiltNames(object):
    """The _Php rules for hidden and computed function names."""

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
