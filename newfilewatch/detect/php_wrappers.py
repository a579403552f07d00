"""Sinks hidden behind the file's own code: functions and closures that pass their parameters to
eval or a command, and unserialize gadgets (__destruct/__wakeup reaching a sink).

The request value reaches the sink through a call the file makes itself, so the rules follow
parameters rather than superglobals.
"""
import itertools
import re

from newfilewatch.detect.calls import CODE_SINKS, OS_SINKS, WRITES
from newfilewatch.detect.phptext import (
    _CLIENT_INPUT, _DYN_CALL, _FUNC_BEFORE, _SANITIZED_CALL, _STATEMENT_REST, _args, _block_end,
    _excerpt, _in_comment, _nth_arg, _php_code)


_CLOSURE_HEAD = re.compile(rb'(?<![\w$>:])(?:static\s+)?(?:function\s*\(([^)]{0,200})\)\s*(?:use\s*\([^)]{0,200}\)\s*)?'
                           rb'(?::\s*\??[\w\\]+\s*)?\{|fn\s*\(([^)]{0,200})\)\s*(?::\s*\??[\w\\]+\s*)?=>)', re.I)
_CLOSURE_SINK = re.compile(rb'(?<![\w$>:])(' + '|'.join(sorted(OS_SINKS | {'eval', 'create_function'})).encode() +
                           rb')\s*\(|(?<![\w$>:])(assert)\s*\(\s*\$\w+\s*(?:\[[^\]]{1,40}\]\s*)?\)|`', re.I)
_MAGIC_METHOD = re.compile(rb'(?i)function\s+(__(?:wakeup|destruct|tostring|call|callstatic|get|set|invoke|unserialize))'
                           rb'\s*\([^)]{0,200}\)[^{;]{0,40}\{')
_UNSERIALIZE = re.compile(rb'(?i)(?<![\w$>:])unserialize\s*\(')


class WrappedSinks(object):
    """The _Php rules for wrapper functions, closures and gadget chains."""

    def wrapped_sinks(self):
        """run($_POST['c']) where `function run($cmd) { ... system($cmd) ... }`: shells and
        file managers hand the client's text to a helper that runs or writes it.  Taint does
        not cross function definitions (see sources); this links the two ends: a parameter
        that reaches an OS/code sink or a write's destination, and a call passing request
        input as that parameter."""
        data = self.data
        wrappers = {}                          # fname -> (param index, sink)
        writes_content = {}                    # fname -> param index of what a write stores
        for name in sorted(self.calls.keys() & (OS_SINKS | CODE_SINKS | {'file_put_contents', 'fopen'})):
            for start, paren in self.calls[name][:20]:
                m = self.function_above(start)
                if m is None:
                    continue
                params = re.findall(rb'\$(\w+)', m.group(2))
                args = _SANITIZED_CALL.sub(b'', _args(data, paren))   # escapeshellarg($p) is safe
                if name in WRITES:             # only the destination argument counts
                    if name == 'fopen' and not re.match(rb'\s*[\'"][wacx]', _nth_arg(args, 1) or b''):
                        continue
                    content = _nth_arg(args, 1) or b'' if name == 'file_put_contents' else b''
                    args = _nth_arg(args, 0) or b''
                for i, param in enumerate(params[:8]):
                    if re.search(rb'\$' + param + rb'(?!\w)', args):
                        wrappers.setdefault(m.group(1).lower(), (i, name))
                    elif name in WRITES and re.search(rb'\$' + param + rb'(?!\w)', content):
                        writes_content.setdefault(m.group(1).lower(), i)
            if len(wrappers) >= 8:
                break
        for fname, (index, sink) in wrappers.items():
            for cm in itertools.islice(re.finditer(rb'(?<![\w$>:])' + re.escape(fname) + rb'\s*\(',
                                                   self.low), 50):
                if _FUNC_BEFORE.search(data, max(0, cm.start() - 20), cm.start()):
                    continue                   # the definition itself
                args = _args(data, cm.end() - 1)
                arg = _SANITIZED_CALL.sub(b'', _nth_arg(args, index) or b'')
                if not self.request_value(arg) or _in_comment(data, cm.start()):
                    continue
                text = 'request input reaches %s() through %s(): %s' % (
                    sink, fname.decode('latin-1'), _excerpt(data, cm.start()))
                if sink in WRITES:
                    self.hit('php.write.request_path', cm.start(), key='wrapped-write', text=text)
                    if fname in writes_content and \
                            self.request_value(_nth_arg(args, writes_content[fname]) or b''):
                        self.unchecked_write('copy', cm.start())   # name and content: the client's
                    continue
                rule = 'php.exec.request_input' if sink in OS_SINKS else 'php.code.request_input'
                self.hit(rule, cm.start(), key='wrapped', text=text)
                return

    def closure_sinks(self):
        """array_reduce([$_GET['q']], function ($r, $i) { return `$i`; }): an anonymous
        function that runs its own parameter, handed to a callback-taking call (or an error /
        header / tick handler) in code that reads the request.  The client's value arrives as
        the parameter, where the taint walk (which stops at function definitions) cannot see it."""
        data = self.data
        sinks = sorted(start for name in self.calls.keys() & (OS_SINKS | CODE_SINKS)
                       for start, _ in self.calls[name][:20])
        for tick in (b'`$', b'`{$'):           # backticks around a variable (not SQL quoting)
            i = data.find(tick)
            while i >= 0 and len(sinks) < 80:
                sinks.append(i)
                i = data.find(tick, i + 2)
        heads = set()
        for pos in sinks:                      # the closure header nearest above each sink
            lo, hi = max(0, pos - 2000), pos
            for _ in range(8):
                j = max(data.rfind(b'function', lo, hi), data.rfind(b'fn', lo, hi))
                if j < 0:
                    break
                if _CLOSURE_HEAD.match(data, j) is not None:
                    heads.add(j)
                    break
                hi = j
        for j in sorted(heads)[:32]:
            m = _CLOSURE_HEAD.match(data, j)
            params = re.findall(rb'\$(\w+)', m.group(1) or m.group(2) or b'')
            if not params:
                continue
            if m.group(1) is not None:         # function (..) { body }
                body = data[m.end() - 1:m.end() - 1 + 8192]
                body = body[:_block_end(body)]
            else:                              # fn (..) => expression
                body = _STATEMENT_REST.match(data, m.end(), m.end() + 600).group(0)
            sink = _CLOSURE_SINK.search(body)   # (assert() of a type check is not code)
            if sink is None:
                continue
            used = _SANITIZED_CALL.sub(b'', body[sink.start():sink.start() + 400])
            if not any(re.search(rb'\$' + p + rb'(?!\w)', used) for p in params):
                continue
            # the client's value must be around: in the statement that hands the closure on,
            # or anywhere in a script of a few KB
            lo = max(data.rfind(b';', max(0, m.start() - 2000), m.start()),
                     data.rfind(b'{', max(0, m.start() - 2000), m.start()), 0)
            stmt = data[lo:m.start()] + data[m.end() - 1 + len(body):m.end() + len(body) + 400]
            if 'small_code' not in self.__dict__:
                self.small_code = _php_code(data, 4096)
            code, where = self.small_code
            if _CLIENT_INPUT.search(stmt) or where is not None and _CLIENT_INPUT.search(code):
                runs_code = sink.group(2) is not None or sink.group(1) is not None and \
                    sink.group(1).lower() in (b'eval', b'create_function')
                self.hit('php.code.request_input' if runs_code else 'php.exec.request_input',
                         m.start(), key='closure',
                         text='an anonymous function runs its parameter (%s) in code that reads '
                              'the request: %s' % (sink.group(0).strip()[:20].decode('latin-1'),
                                                   _excerpt(data, m.start())))
                return

    def gadgets(self):
        """unserialize() of request data in a file that defines a class whose magic method
        (__wakeup, __destruct, __toString...) runs code: the object the client sends picks what
        runs.  A backdoor disguised as a cache, or an object-injection shell."""
        data = self.data
        for m in itertools.islice(_MAGIC_METHOD.finditer(data), 16):
            body = data[m.end() - 1:m.end() - 1 + 8192]
            if not _CLOSURE_SINK.search(body[:_block_end(body)]) and not \
                    _DYN_CALL.search(body[:_block_end(body)]):
                continue
            for u in itertools.islice(_UNSERIALIZE.finditer(data), 16):
                if _CLIENT_INPUT.search(_args(data, u.end() - 1)):
                    self.hit('php.code.request_input', u.start(), key='gadget',
                             text='request data unserialized next to %s(), which runs code: %s' % (
                                 m.group(1).decode('latin-1'), _excerpt(data, u.start())))
                    return
            return
