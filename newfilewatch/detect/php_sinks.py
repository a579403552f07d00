"""Request input reaching a sink: eval/assert/create_function, OS commands, include, callbacks,
writes, mail, SQL; the heart of the byte-level PHP rules.

A call is judged by what encloses the input (the calls and statement around it) and by where
the variables it is given were assigned, so a renamed or wrapped input still counts.
"""
import bisect
import collections
import re

from newfilewatch.detect import decode
from newfilewatch.detect.calls import (
    CALLBACKS, CODE_SINKS, DECODERS, OS_SINKS, PASS_THROUGH, SANITIZERS, SQL_LOGINS, SQL_QUERIES,
    WRITES)
from newfilewatch.detect.phptext import (
    _CLIENT_INPUT, _SANITIZED_CALL, _SUBSCRIPT_AFTER, _VAR, _args, _excerpt, _in_comment,
    _in_literal, _is_dangerous_name, _nth_arg, _picks_literal, _static_string)
from newfilewatch.detect.triage import _DYNCALL_REV


_FOREACH_AS = re.compile(rb'\s*(?:\[[^\]\n]{0,80}\]\s*)*\)?\s*as\s+\$([A-Za-z_]\w*)'
                         rb'(?:\s*=>\s*\$([A-Za-z_]\w*))?', re.I)
_CALLABLE_AFTER = re.compile(rb'\s*(?:\[[^\]\n]{0,80}\]\s*){0,4}\(')
_DECODER_IN = re.compile(('(?<![a-z0-9_])(?:%s)\\s*\\(' % '|'.join(sorted(DECODERS))).encode())
_LOOP_BEFORE = re.compile(rb'(?<![a-z0-9_$])(foreach|for|while|do)\s*[({]')
# An argument that is one value (maybe unescaped or trimmed), not a query built around it.
_WHOLE_VALUE = re.compile(rb'\s*@?\s*(?:(?:stripslashes|trim|urldecode|base64_decode|'
                          rb'html_entity_decode)\s*\(\s*)*("?)\$\w+(?:\s*\[[^\]]{1,40}\])*\1[\s)]*$', re.I)
# a property given a value: '$obj->prop = ' (text just before the value)
_PROP_ASSIGN_BEFORE = re.compile(rb'\$\w+\s*->\s*(\w+)\s*=\s*$')
# One call opener ('name (') read backwards: blanks, '(', blanks, the name, then '$' of a
# variable or '->'/'::' of a method (reversed).
_OPENER_REV = re.compile(rb'\s*\(\s*([A-Za-z0-9_\\]+)(\$)?(>-|::)?')


class RequestSinks(object):
    """The _Php rules judging each sink call against the request input around it."""

    def worth_judging(self, pos, end):
        """Cheap look at the line: can the value at pos reach anything that matters?"""
        data = self.data
        parens = self.sink_parens
        i = bisect.bisect_left(parens, pos - 1500)
        while i < len(parens) and parens[i] < pos:
            if self.sink_close(parens[i]) > pos:
                return True                    # inside a sink call opened shortly before
            i += 1
        ls = max(data.rfind(b'\n', max(0, pos - 400), pos) + 1, pos - 400)
        prefix = data[ls:pos]
        if b'`' in prefix:
            return True
        last = prefix.rstrip()[-1:]
        if last in (b'(', b','):
            # An argument of some call.  The sink check above kept every site a sink call
            # encloses; what else judge() acts on: a call of a run-time name enclosing it,
            # backticks or an include the statement opened on an earlier line, and the
            # assignment checks below.  isset($_GET['x']), esc_attr(wp_unslash($_POST['y'])):
            # a sanitizer among the calls opened right before the value makes judge() drop it.
            if last == b'(' and b"'" not in prefix and b'"' not in prefix and \
                    self.sanitized_by_openers(prefix):
                return False
            if b'__invoke' in prefix or b'__INVOKE' in prefix:
                return True
            lo = max(0, pos - 1500)
            if self.in_dynamic_call(pos) or data.find(b'`', lo, pos) >= 0 or \
                    data.find(b'include', lo, pos) >= 0 or data.find(b'require', lo, pos) >= 0 or \
                    data.find(b'INCLUDE', lo, pos) >= 0 or data.find(b'REQUIRE', lo, pos) >= 0:
                return True
        low = prefix.lower()
        if b'include' in low or b'require' in low:
            return True
        if last == b'=' and b'->' in prefix and _PROP_ASSIGN_BEFORE.search(prefix):
            return True                        # a property given request input: judge() checks
                                               # whether the file calls that property
        if _CALLABLE_AFTER.match(data, end) or _SUBSCRIPT_AFTER.match(data, end):
            sub = _SUBSCRIPT_AFTER.match(data, end)
            if _CALLABLE_AFTER.match(data, sub.end() if sub else end):
                return True
        if b'=' in prefix or b'foreach' in low:
            # the value only spreads through variables, and a variable is followed no
            # further than the function definitions around it: worth it only when that
            # stretch of code has somewhere to take it
            lo, hi = self.region(pos)
            key = (lo, hi)
            if key not in self._region_live:
                i = bisect.bisect_left(self.sink_parens, lo)
                self._region_live[key] = i < len(self.sink_parens) and self.sink_parens[i] < hi or \
                    data.find(b'`', lo, hi) >= 0 or data.find(b'include', lo, hi) >= 0 or \
                    data.find(b'require', lo, hi) >= 0 or \
                    (self.dynamic_calls and
                     _DYNCALL_REV.search(self.rev_low, len(data) - hi, len(data) - lo) is not None) or \
                    (self.property_calls and data.find(b'->', lo, hi) >= 0)
            return self._region_live[key]
        return False

    def sink_close(self, paren):
        """Offset of the ')' closing the call opened at `paren` (cached); a call left open
        within _args' bound counts as open to the end."""
        close = self._sink_close.get(paren)
        if close is None:
            close = paren + 1 + len(_args(self.data, paren))
            if self.data[close:close + 1] != b')':
                close = len(self.data)
            self._sink_close[paren] = close
        return close

    @staticmethod
    def sanitized_by_openers(prefix):
        """Do the calls opened at the end of `prefix` ('f( g( ') include a sanitizer?"""
        rev = prefix[-240:][::-1]              # walk back opener by opener: a '$'-anchored
        i = 0                                  # search would try every start position
        while True:
            m = _OPENER_REV.match(rev, i)
            if m is None:
                return False
            if m.group(2) is None and m.group(3) is None and \
                    m.group(1)[::-1].lower().lstrip(b'\\').decode('latin-1') in SANITIZERS:
                return True
            i = m.end()

    def judge(self, pos, end, label, via):
        """Decide what the request value at data[pos:end] reaches; return variables it taints."""
        key = (pos, via)
        if key in self.done_sites:
            return ()
        self.done_sites.add(key)
        data = self.data
        if _in_comment(data, pos):
            return ()
        ctx = self.context(pos)
        frames = ctx.frames
        names = [f[0] for f in frames]
        sanitized = any(n in SANITIZERS for n in names) or \
            data[max(0, pos - 14):pos].replace(b' ', b'').lower().rstrip(b'(').endswith(
            (b'(int)', b'(float)', b'(bool)', b'(integer)', b'(double)', b'(boolean)'))
        rule = None
        if frames and frames[-1][0] == '[' and re.search(rb'\$(?!_)\w+\s*$', data[max(0, frames[-1][2] - 60):frames[-1][2]]):
            return ()                          # $jobs[$_GET['job']]: the code's own value, picked
        if not sanitized:
            for idx, (callee, argi, fpos) in enumerate(frames):
                if callee in CODE_SINKS:
                    rule = 'php.code.request_input'
                elif callee in OS_SINKS:
                    rule = 'php.exec.request_input'
                elif callee == 'preg_replace' and argi >= 1 and self.preg_e(frames, pos):
                    rule = 'php.code.request_input'
                elif callee in CALLBACKS and argi == CALLBACKS[callee] and \
                        all(n in PASS_THROUGH for n in names[idx + 1:]):
                    rule = 'php.call.request_function'
                elif callee in CALLBACKS and _is_dangerous_name(
                        _nth_arg(_args(data, fpos), CALLBACKS[callee])):
                    rule = 'php.code.request_input'   # array_map('assert', $_POST)
                elif callee == '$[]' or callee == '->__invoke':
                    # $a[0](..), ($this->h)(..), $this->h->__invoke(..): chosen at run time
                    self.hit('php.call.variable_function_input', pos, key='varfunc')
                    continue
                elif callee.startswith('$') and callee != '$this':
                    self.variable_function(callee[1:], pos)
                    continue
                elif callee in SQL_QUERIES and argi == SQL_QUERIES[callee] and \
                        all(n in PASS_THROUGH for n in names[idx + 1:]):
                    if _WHOLE_VALUE.match(_nth_arg(_args(data, fpos), argi) or b''):
                        self.hit('php.sql.request_query', pos, key='sql')
                    continue
                elif callee in SQL_LOGINS and argi in (SQL_LOGINS[callee], SQL_LOGINS[callee] + 1) \
                        and idx == len(frames) - 1:
                    self.hit('php.sql.request_login', pos, key='sqllogin')
                    continue
                elif callee in WRITES and argi == WRITES[callee]:
                    if label == 'php://input':
                        continue               # reading the request body, not a destination
                    if self.safe_destination(_nth_arg(_args(data, fpos), argi) or b''):
                        continue               # dir/'cron-' . $job . '.lock': no code can land
                    if callee == 'fopen':
                        mode = _nth_arg(_args(data, self.paren_before(pos)), 1)
                        if not mode or not re.match(rb'\s*[\'"][wacx]', mode):
                            continue
                    self.hit('php.write.request_path', pos, key='write:' + callee)
                    self.request_writes.append((callee, pos))
                    if '_COOKIE' in label or '_SERVER' in label and 'HTTP_' in label and \
                            'HTTP_HOST' not in label:
                        # forms name files in fields; a path riding in a cookie or a custom
                        # header is a control channel that no page shows (not Host: caches
                        # write under HTTP_HOST)
                        self.hit('php.write.request_path', pos, key='hiddenpath',
                                 variant='hidden_path',
                                 text='the destination comes from %s: %s' % (label, _excerpt(data, pos)))
                    self.unchecked_write(callee, pos)
                    if callee in ('move_uploaded_file', 'copy') and via is None and \
                            self.form_picks_directory(pos, end):
                        self.hit('php.write.request_path', pos, key='writedir',
                                 text='the page\'s own upload form chooses the directory: %s'
                                 % _excerpt(data, pos))
                    continue
                elif callee == 'mail':
                    self.hit('php.mailer.request_recipients', pos, key='mail')
                    chosen = self.__dict__.setdefault('_mail_args', {}).setdefault(fpos, set())
                    chosen.add(argi)
                    if len(chosen & {0, 3, 4}) >= 2:   # who gets it, and From: or -f sender
                        # contact forms mail a fixed address; the client picking both who gets
                        # it and who it claims to be from is a relay for spam and phishing
                        picked = ', '.join(w for i, w in ((0, 'recipient'), (3, 'headers (From:)'),
                                                          (4, 'envelope sender (-f)')) if i in chosen)
                        self.hit('php.mailer.request_recipients', pos, key='relay', variant='relay',
                                 text='the request picks the %s: %s' % (picked, _excerpt(data, pos)))
                    lo = max(0, pos - 800)
                    if _LOOP_BEFORE.search(data[lo:pos].lower()):
                        self.hit('php.mailer.loop', pos, key='mailloop')
                    continue
                elif callee in ('extract', 'parse_str') and argi == 0 and via is None:
                    self.hit('php.request.extract', pos, key='extract')
                    self.extracted = True
                    continue
                else:
                    continue
                break
            if rule is None and ctx.in_backticks and not ctx.in_string:
                rule = 'php.exec.request_input'
            if rule is None and ctx.head.startswith(('include', 'require')):
                rule = 'php.include.request_input'
            if rule is None and via is None and not ctx.in_string and \
                    all(n in PASS_THROUGH for n in names):
                # $_GET['f']($_GET['a']): the client names the function
                sub = _SUBSCRIPT_AFTER.match(data, end)
                after = sub.end() if sub else end
                if _CALLABLE_AFTER.match(data, after) and data[after:after + 1] not in (b'',):
                    m = _CALLABLE_AFTER.match(data, after)
                    if m and (sub or label.startswith(('getallheaders', 'apache'))):
                        rule = 'php.call.request_function'
            if rule is None and via is not None and ctx.head != '=' + via and not ctx.in_string:
                # $f = $_GET['f']; $f(...)
                m = _CALLABLE_AFTER.match(data, end)
                if m and not data[max(0, pos - 2):pos] in (b'->', b'::'):
                    rule = 'php.call.request_function'
        if rule is None and not sanitized and not ctx.in_string and \
                all(n in PASS_THROUGH for n in names):
            # $obj->h = $_GET['f']; ... ($this->h)(..): the client names the function
            pm = _PROP_ASSIGN_BEFORE.search(data, max(0, pos - 120), pos)
            if pm and self.property_called(pm.group(1)):
                rule = 'php.call.request_function'
        if rule is not None:
            if rule == 'php.include.request_input' and via is not None:
                self.hit(rule, pos, variant='via_variable')
            else:
                self.hit(rule, pos)
            return ()
        if sanitized:
            return ()
        out = []
        if label.count(' (from ') >= 2:
            return out                         # follow taint two assignments deep, no further
        if ctx.head.startswith('=') and all(n in PASS_THROUGH for n in names):
            var = ctx.head[1:]
            if var != via and not var.startswith('_') and var != 'GLOBALS' and \
                    not _picks_literal(data, end):
                out.append(var)
        elif ctx.head == 'foreach':
            m = _FOREACH_AS.match(data, end)
            if m:
                out.extend(v.decode('latin-1') for v in m.groups() if v)
        return out

    def property_called(self, prop):
        """Is the value of property `prop` called as a function somewhere in the file:
        ($x->prop)(..), $x->prop->__invoke(..), call_user_func($x->prop, ..)?"""
        p = re.escape(prop)
        return re.search(rb'\(\s*\$\w+\s*->\s*' + p + rb'\s*\)\s*\(|->\s*' + p +
                         rb'\s*->\s*__invoke\s*\(|call_user_func(?:_array)?\s*\(\s*\$\w+\s*->\s*' +
                         p + rb'\s*[,)]', self.data, re.I) is not None

    def preg_e(self, frames, pos):
        for start, paren in self.calls.get('preg_replace', ()):
            if paren < pos and pos - paren < 2000 and self.regex_has_e(paren):
                return True
        return False

    def regex_has_e(self, paren):
        data = self.data
        i = paren + 1
        while i < len(data) and data[i:i + 1] in b' \t\r\n':
            i += 1
        value, end = decode.read_literal(data, i, limit=4096)
        if value is None and data[i:i + 1] not in (b"'", b'"'):   # chr(47).$a[2].chr(47).chr(101)
            arg = _nth_arg(_args(data, paren), 0) or b''
            if b'$' in arg or b'chr' in arg.lower():
                value = decode.fold(arg, self.fold_env(set(_VAR.findall(arg))), self.scan.budget)
        if not value or len(value) < 2:
            return False
        delim = value[:1]
        close = {b'(': b')', b'{': b'}', b'[': b']', b'<': b'>'}.get(delim, delim)
        j = value.rfind(close)
        return j > 0 and b'e' in value[j + 1:] and re.match(rb'^[a-zA-Z]*$', value[j + 1:]) is not None

    def unset_inputs(self, args, start, rule_if_extracted):
        """Variables in the first argument that the file never sets: register_globals input."""
        first = _SANITIZED_CALL.sub(b'', _nth_arg(args, 0) or args)
        for vm in _VAR.finditer(first):
            v = vm.group(1).decode('latin-1')
            if v in ('this', 'GLOBALS') or v.startswith('_') or v in self.taint:
                continue
            if first[vm.end():vm.end() + 1] == b'[' or first[vm.end():vm.end() + 2] == b'->':
                continue                       # $config['path'], $obj->x: application state
                                               # from an included file, not a form field
            if self.extracted:
                self.hit(rule_if_extracted, start)
                return
            if not self.assigned(v):
                self.hit('php.exec.global_input', start,
                         text='$%s is never set here: %s' % (v, _excerpt(self.data, start)))
                return

    def sink_calls(self):
        data = self.data
        calls = self.calls
        kw_re = self.scan.engine._kw_re
        for name in CODE_SINKS:
            for start, paren in calls.get(name, ()):
                if _in_comment(data, start) or _in_literal(data, start):
                    continue                   # 'eval(base64_decode(' in a scanner's signatures
                args = _args(data, paren)
                if name == 'eval':
                    self.unset_inputs(args, start, 'php.code.request_input')
                if _DECODER_IN.search(args.lower()):
                    self.hit('php.code.decoded_input', start)
                    continue
                for var in set(_VAR.findall(args)):
                    v = var.decode('latin-1')
                    if any(_DECODER_IN.search(rhs.lower()) for _, rhs in self.assignments(v)):
                        self.hit('php.code.decoded_input', start)
                        break
                else:
                    if name != 'assert' and b'$' in args:
                        self.hit('php.code.eval_variable', start, key='evalvar')
        first_args = collections.defaultdict(set)   # first argument -> OS functions given it
        methods = {}
        for name in OS_SINKS:
            for start, paren in calls.get(name, ()):
                if _in_comment(data, start) or _in_literal(data, start):
                    continue
                args = _args(data, paren)
                methods.setdefault(name, start)
                first_args[re.sub(rb'\s+', b'', _nth_arg(args, 0) or b'')].add(name)
                self.hit('php.exec.call', start, key='exec')
                if b'REMOTE_ADDR' in args and b'REMOTE_PORT' in args:
                    # a program handed the client's own address and port: it connects back
                    self.hit('php.revshell.socket_shell', start,
                             text='command gets the client\'s address and port: %s' % _excerpt(data, start))
                self.unset_inputs(args, start, 'php.exec.request_input')
                if _DECODER_IN.search(args.lower()):
                    self.hit('php.code.decoded_input', start)
                if kw_re is not None:
                    self.keywords(args, start)
        if len(methods) >= 3:
            # Shells try every way to run THE SAME command; applications that wrap several
            # (a poller, a renderer) give each its own command line.
            same = max((len(v) for k, v in first_args.items() if k.startswith(b'$')), default=0)
            self.hit('php.exec.many_methods', min(methods.values()),
                     text=', '.join(sorted(methods)),
                     variant=None if same >= 3 else 'different_commands')
        if b'`' in data and kw_re is not None:
            self.backtick_keywords()
        for name, idx in CALLBACKS.items():
            for start, paren in calls.get(name, ()):
                args = _args(data, paren)
                cb = _nth_arg(args, idx)
                # register_shutdown_function('array_map', 'passthru', [..]): the callback is
                # itself a callback-taker, whose own callback follows it
                inner = (_static_string(cb) or b'').strip().lower().decode('latin-1')
                if inner in CALLBACKS:
                    cb = _nth_arg(args, idx + 1 + CALLBACKS[inner])
                if _is_dangerous_name(cb):
                    self.hit('php.callback.dangerous_name', start)
                    if _CLIENT_INPUT.search(args):     # ..and the client gives the argument
                        self.hit('php.code.request_input', start, key='cbinput',
                                 text='a command function as callback, run on request input: %s'
                                 % _excerpt(data, start))
        for start, paren in calls.get('preg_replace', ()):
            if self.regex_has_e(paren):
                replacement = (_nth_arg(_args(data, paren, limit=1 << 20), 1) or b'').strip()
                # old applications gave /e a literal template; code in a variable or a call's
                # result is code from elsewhere, evaluated
                self.hit('php.preg_replace.eval_modifier', start,
                         variant='literal_template' if replacement[:1] in (b"'", b'"') else
                         'code_from_elsewhere')
                code = decode.fold(replacement, None, self.scan.budget)
                if code and b'(' in code and self.depth < 4:
                    self.sub_code(code, start, 'preg_replace /e')
        for start, paren in calls.get('ini_get', ()):
            if b'disable_functions' in data[paren:paren + 40].lower():
                self.hit('php.recon.environment', start, key='recon')

    def keywords(self, text, pos):
        seen = set()
        for m in self.scan.engine._kw_re.finditer(text.lower()):
            kw = m.group(1)
            if kw not in seen:
                seen.add(kw)
                self.hit('keyword.exec_context', pos, key=b'kw' + kw,
                         text='%s: %s' % (kw.decode('utf-8', 'replace'), _excerpt(self.data, pos)))

    def backtick_keywords(self):
        data = self.data
        i = data.find(b'`')
        n = 0
        while i >= 0 and n < 200:
            n += 1
            j = data.find(b'`', i + 1, i + 2000)
            if j < 0:
                break
            prev = data[max(0, i - 12):i].rstrip()
            if prev[-1:] in (b'=', b'(', b',', b';', b'.', b'?', b':') or \
                    prev.lower().endswith((b'echo', b'print', b'return')):
                body = data[i + 1:j]
                if b'\n' not in body[:200] and \
                        self.scan.engine._kw_re.search(body.lower()) is not None and \
                        not _in_comment(data, i) and not self.context(i).in_string:
                    self.keywords(body, i)     # (keywords first: context() is the dear part)
            i = data.find(b'`', j + 1)
