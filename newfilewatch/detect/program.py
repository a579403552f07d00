"""The shape of a PHP file's token list: brackets, functions, scopes, assignments, calls.

Everything later (folding environments, taint, the rules) asks the same few questions:
where does this bracket close, which function is this token in, what is assigned where,
which calls are made with which arguments.  They are answered once, in linear passes over
the tokens, so no rule re-walks a line per call site (the cost that made the old byte
engine quadratic on crafted files).
"""
import array
import collections


KEYWORDS = frozenset(b'''if elseif else while for foreach switch case default do return
echo print isset empty unset list array function fn use new clone instanceof and or xor
include include_once require require_once eval exit die catch try finally throw global static
declare match yield class interface trait extends implements namespace const goto abstract
final public private protected var break continue as insteadof endif endwhile endfor
endforeach endswitch enddeclare callable self parent'''.split())
INCLUDES = frozenset((b'include', b'include_once', b'require', b'require_once'))
ASSIGN_OPS = frozenset((b'=', b'.=', b'+=', b'??=', b'|=', b'^=', b'&='))

Function = collections.namedtuple('Function', 'id name params body_open body_close uses start')
# kind: 'name' (f(..)), 'var' ($f(..)), 'expr' (... )(..) / $a[0](..) / 'x'(..)),
#       'method' (->m(..) / ::m(..)), 'new'
Call = collections.namedtuple('Call', 'kind name callee paren close args scope pos')
Assign = collections.namedtuple('Assign', 'op target key lhs rhs scope pos')


class Program(object):
    def __init__(self, toks, data, budget):
        self.toks = toks
        self.data = data
        self.budget = budget
        n = len(toks)
        self.match = array.array('l', [-1]) * n
        self._brackets()
        self._nxt = None
        self.functions = []
        self.scope = array.array('l', [0]) * n
        self._functions()
        self.calls = []
        self.assigns = []
        self.loops = []             # foreach: (source range, value var, body start, body end, scope)
        self.gotos = 0
        self.labels = 0
        self._statements()

    # --- brackets ------------------------------------------------------------------------
    def _brackets(self):
        stack = []
        pairs = {b')': b'(', b']': b'[', b'}': b'{'}
        toks, match = self.toks, self.match
        for i, t in enumerate(toks):
            if t[0] != 'O':
                continue
            v = t[1]
            if v in (b'(', b'[', b'{'):
                stack.append(i)
            elif v in pairs:
                # pop to the nearest opener of the same kind (tolerates stray closers)
                want = pairs[v]
                k = len(stack) - 1
                floor = max(0, len(stack) - 64)
                while k >= floor and toks[stack[k]][1] != want:
                    k -= 1
                if k >= floor:
                    o = stack[k]
                    del stack[k:]
                    match[o] = i
                    match[i] = o

    def close_of(self, i):
        c = self.match[i]
        return c if c > i else len(self.toks)

    # --- functions and scopes ------------------------------------------------------------
    def _functions(self):
        toks = self.toks
        n = len(toks)
        fid = 0
        for i, t in enumerate(toks):
            if t[0] != 'I' or t[1] not in (b'function', b'fn'):
                continue
            j = i + 1
            if j < n and toks[j][1] == b'&':
                j += 1
            name = None
            if j < n and toks[j][0] == 'I' and t[1] == b'function':
                name = toks[j][1].lstrip(b'\\')
                j += 1
            if j >= n or toks[j][1] != b'(':
                continue
            pclose = self.close_of(j)
            params = [toks[k][1] for k in range(j + 1, min(pclose, n))
                      if toks[k][0] == 'V' and (k == j + 1 or toks[k - 1][1] in (b',', b'&', b'...')
                                                or toks[k - 1][0] in ('I',) or toks[k - 1][1] == b'?')]
            k = pclose + 1
            uses = []
            if k < n and toks[k][0] == 'I' and toks[k][1] == b'use' and k + 1 < n:
                uc = self.close_of(k + 1)
                uses = [toks[m][1] for m in range(k + 2, min(uc, n)) if toks[m][0] == 'V']
                k = uc + 1
            if t[1] == b'fn':
                continue                          # arrow functions share the parent's scope
            # skip a return type up to the body
            while k < n and toks[k][1] not in (b'{', b';') and k < pclose + 12:
                k += 1
            if k >= n or toks[k][1] != b'{':
                continue                          # abstract / interface method
            close = self.close_of(k)
            fid += 1
            self.functions.append(Function(fid, name, params, k, close, uses, i))
        # innermost function wins: fill outer first (functions are in start order)
        scope = self.scope
        filled = 0
        for f in self.functions:
            hi = min(f.body_close, n)
            filled += hi - f.body_open
            if filled > 4 * n + 1000:             # absurd nesting: stop refining scopes
                break
            for k in range(f.body_open, hi):
                scope[k] = f.id
            for k in range(f.start, f.body_open):
                scope[k] = f.id                   # parameters belong to the function
        self.by_name = collections.defaultdict(list)
        self.by_id = {}
        for f in self.functions:
            self.by_id[f.id] = f
            if f.name:
                self.by_name[f.name].append(f)

    def parent_scope(self, fid):
        f = self.by_id.get(fid)
        if not f or f.start == 0:
            return 0
        return self.scope[f.start - 1]

    # --- expressions ---------------------------------------------------------------------
    def expr_end(self, i, stop=(b';', b',', b')', b']', b'}', b'=>')):
        """Index just past the expression starting at i (stops at a depth-0 terminator).
        O(1): the next terminator of each token is computed once per stop set, right to
        left, jumping over bracketed groups, so no statement is ever walked twice."""
        toks = self.toks
        n = len(toks)
        if i >= n:
            return n
        nxt = self._nxt
        if nxt is None:
            nxt = self._nxt = self._next_stops(_ALL_STOPS)
        j = nxt[i]
        # the one table stops at every terminator any caller uses; skip the others (same depth)
        while j < n and toks[j][0] == 'O' and toks[j][1] not in stop:
            j = nxt[j + 1]
        return j

    def _next_stops(self, stop):
        toks, match = self.toks, self.match
        n = len(toks)
        nxt = array.array('l', [n]) * (n + 1)
        for i in range(n - 1, -1, -1):
            t = toks[i]
            k = t[0]
            if k == 'O':
                v = t[1]
                if v in stop:
                    nxt[i] = i
                elif v in (b'(', b'[', b'{'):
                    c = match[i]
                    nxt[i] = nxt[c + 1] if c > i else n
                else:
                    nxt[i] = nxt[i + 1]
            elif k == 'H':
                nxt[i] = i
            else:
                nxt[i] = nxt[i + 1]
        return nxt

    def split_args(self, paren):
        """[(start, end)] of the depth-0 comma-separated arguments inside toks[paren]."""
        close = self.close_of(paren)
        out = []
        k = paren + 1
        while k < close:
            e = self.expr_end(k, stop=(b',', b')', b']', b'}', b';'))
            e = min(e, close)
            if e > k:
                out.append((k, e))
            k = e + 1
            if len(out) > 256:
                break
        return out

    def lhs_start(self, k):
        """Start index of the assignable expression ending just before k, and its base."""
        toks = self.toks
        j = k - 1
        steps = 0
        while j >= 0 and steps < 64:
            steps += 1
            t = toks[j]
            if t[0] == 'O' and t[1] in (b']', b'}'):
                o = self.match[j]
                if o < 0 or o >= j:
                    return None
                j = o - 1
                continue
            if t[0] == 'V':
                if j > 0 and toks[j - 1][1] == b'$':
                    return j - 1
                return j
            if t[0] == 'I' and j > 1 and toks[j - 1][1] in (b'->', b'?->', b'::'):
                j -= 2
                continue
            return None
        return None

    # --- statements ----------------------------------------------------------------------
    def _statements(self):
        toks, n = self.toks, len(self.toks)
        scope = self.scope
        for k in range(n):
            t = toks[k]
            kind, v = t[0], t[1]
            if kind == 'O':
                if v in ASSIGN_OPS:
                    self._assign(k)
                elif v == b'(':
                    self._call(k)
                elif v == b':' and k > 0 and toks[k - 1][0] == 'I' and \
                        (k < 2 or toks[k - 2][1] in (b';', b'{', b'}')) and toks[k - 1][1] not in KEYWORDS:
                    self.labels += 1
            elif kind == 'I':
                if v == b'goto':
                    self.gotos += 1
                elif k > 0 and toks[k - 1][1] in (b'->', b'?->', b'::', b'function'):
                    pass                                   # $view->include(...): a method
                elif v in INCLUDES or v == b'eval' and (k + 1 >= n or toks[k + 1][1] != b'('):
                    e = self.expr_end(k + 1)
                    self.calls.append(Call('name', v, None, k, e, [(k + 1, e)], scope[k], t[2]))
                elif v == b'foreach' and k + 1 < n and toks[k + 1][1] == b'(':
                    self._foreach(k + 1)
                elif v == b'list' and k + 1 < n and toks[k + 1][1] == b'(':
                    c = self.close_of(k + 1)
                    if c + 1 < n and toks[c + 1][1] == b'=':
                        self._destructure(k + 1, c, c + 1)
            elif kind == 'B':
                self.calls.append(Call('name', b'`', None, k, k + 1, [(k, k + 1)], scope[k], t[2]))

    def _assign(self, k):
        toks = self.toks
        if k == 0:
            return
        prev = toks[k - 1]
        if prev[0] == 'O' and prev[1] == b']' and toks[k][1] == b'=':
            o = self.match[k - 1]
            if o >= 0 and (o == 0 or toks[o - 1][0] not in ('V', 'I') and toks[o - 1][1] not in (b']', b'}', b')')):
                self._destructure(o, k - 1, k)      # [$a, $b] = ...
                return
        s = self.lhs_start(k)
        if s is None:
            return
        e = self.expr_end(k + 1, stop=_RHS_STOP)
        t0 = toks[s]
        key = None
        if t0[1] == b'$':
            target = ('$$', s)
        else:
            target = t0[1]
            if s + 1 < k and toks[s + 1][1] in (b'->', b'?->', b'::') and s + 2 < k and toks[s + 2][0] == 'I':
                if s + 3 < k:
                    return          # $this->table[$k] = ...: one element, not the property
                target = ('prop', toks[s + 2][1])
            elif s + 1 < k and toks[s + 1][1] in (b'[', b'{'):
                key = (s + 2, self.match[s + 1]) if self.match[s + 1] > s + 1 else None
                if key is None or key[0] >= key[1]:
                    key = ('append',)
        self.assigns.append(Assign(toks[k][1], target, key, (s, k), (k + 1, e), self.scope[k], toks[k][2]))

    def _destructure(self, o, c, k):
        e = self.expr_end(k + 1)
        for m in range(o + 1, c):
            if self.toks[m][0] == 'V':
                self.assigns.append(Assign(b'=', self.toks[m][1], ('list',), (m, m + 1), (k + 1, e),
                                           self.scope[k], self.toks[m][2]))

    def _foreach(self, p):
        toks = self.toks
        c = self.close_of(p)
        k = p + 1
        while k < c and not (toks[k][0] == 'I' and toks[k][1] == b'as'):
            if toks[k][1] in (b'(', b'[', b'{') and self.match[k] > k:
                k = self.match[k]
            k += 1
        if k >= c:
            return
        src = (p + 1, k)
        # the loop body: a { } block or one statement; its value variable is the last one
        names = [toks[m][1] for m in range(k + 1, c) if toks[m][0] == 'V']
        b = c + 1
        if names and b < len(toks):
            end = self.close_of(b) if toks[b][1] == b'{' else self.expr_end(b, stop=(b';',))
            if len(self.loops) < 10000:
                self.loops.append((src, names[-1], b, end, self.scope[p]))
        for m in range(k + 1, c):
            if toks[m][0] == 'V':
                is_dollar = m > 0 and toks[m - 1][1] == b'$'
                if not is_dollar:
                    self.assigns.append(Assign(b'as', toks[m][1], ('list',), (m, m + 1), src,
                                               self.scope[p], toks[m][2]))

    def _call(self, p):
        toks = self.toks
        if p == 0:
            return
        prev = toks[p - 1]
        kind, name, callee = None, None, None
        pk, pv = prev[0], prev[1]
        if pk == 'I':
            if pv in (b'function', b'fn'):
                return
            before = toks[p - 2][1] if p >= 2 else b''
            if before in (b'function', b'&') and (p < 3 or toks[p - 3][1] == b'function' or before == b'function'):
                return                                   # a definition
            if before in (b'->', b'?->', b'::'):
                kind, name = 'method', pv
            elif before == b'new':
                kind, name = 'new', pv.lstrip(b'\\')
            elif pv in KEYWORDS and pv not in (b'eval', b'exit', b'die', b'print', b'echo'):
                if pv not in INCLUDES:
                    return
                kind, name = 'name', pv
            else:
                kind, name = 'name', pv.lstrip(b'\\')
                if b'\\' in name:
                    name = name.rsplit(b'\\', 1)[1]
        elif pk == 'V':
            before = toks[p - 2][1] if p >= 2 else b''
            if before in (b'->', b'?->', b'::'):
                kind, callee = 'method', (p - 1, p)
            elif before == b'new':
                kind, callee = 'new', (p - 1, p)
            else:
                kind, callee = 'var', (p - 1 if before != b'$' else p - 2, p)
        elif pk == 'O' and pv in (b')', b']', b'}'):
            o = self.match[p - 1]
            if o < 0 or o >= p - 1:
                return
            if pv == b')':
                # f(..)(..) or (expr)(..): the callee is the bracketed expression, unless the
                # ')' closes a control statement or a call's own argument list of a keyword
                before = toks[o - 1] if o > 0 else None
                if before is not None and before[0] == 'I' and before[1] in KEYWORDS and \
                        before[1] not in (b'array',):
                    return
                if before is not None and (before[0] in ('I', 'V') or before[1] in (b')', b']')):
                    kind, callee = 'expr', (self._call_start(o), p)
                else:
                    kind, callee = 'expr', (o + 1, p - 1)
            else:
                s = self.lhs_start(p)
                if pv == b'}' and s is None:
                    return                               # a block's end, then '('
                if s is None:
                    # ['sys'.'tem'][0](...) or "..."[0](..): take from the opener
                    s = o - 1 if o > 0 and toks[o - 1][0] in ('S', 'T') else o
                    if toks[s][1] == b'[':
                        o2 = s
                        s = o2
                if s > 0 and toks[s - 1][1] in (b'->', b'?->', b'::'):
                    kind = 'method'
                else:
                    kind = 'expr'
                callee = (s, p)
        elif pk in ('S', 'T'):
            kind, callee = 'expr', (p - 1, p)
        else:
            return
        close = self.close_of(p)
        self.calls.append(Call(kind, name, callee, p, close, self.split_args(p), self.scope[p], toks[p][2]))

    def _call_start(self, o):
        """Start of a call expression whose argument list opens at o."""
        toks = self.toks
        j = o - 1
        steps = 0
        while j >= 0 and steps < 32:
            steps += 1
            t = toks[j]
            if t[1] in (b')', b']', b'}') and t[0] == 'O':
                m = self.match[j]
                if m < 0 or m >= j:
                    return j
                j = m - 1
                continue
            if t[0] in ('I', 'V', 'S', 'T'):
                if j > 0 and toks[j - 1][1] in (b'->', b'::', b'$'):
                    j -= 2
                    continue
                return j
            return j + 1
        return max(j, 0)


_ALL_STOPS = frozenset((b';', b',', b')', b']', b'}', b'=>', b'?', b'.') + tuple(ASSIGN_OPS))
_RHS_STOP = (b';', b',', b')', b']', b'}', b'=>') + tuple(sorted(ASSIGN_OPS))


__all__ = ['Program', 'Call', 'Assign', 'Function']
