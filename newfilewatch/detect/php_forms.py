"""Pages that bundle a shell's tools behind their own HTML form: register_globals-style fields
choosing file, SQL and mail calls, and toolkits of many capabilities in one page.

Kept apart because it reasons about the page's HTML and its capabilities as a whole, not
about one call.
"""
import collections
import re

from newfilewatch.detect.calls import CODE_SINKS, FS_SINKS, OS_SINKS, SOCKETS, WRITES
from newfilewatch.detect.phptext import (
    _SUBSCRIPT_AFTER, _VAR, _args, _excerpt, _in_comment, _lowered, _nth_arg)


_CAPABILITIES = (
    ('exec', OS_SINKS),
    ('destroy', frozenset(('unlink', 'rmdir', 'rename', 'chmod', 'chown', 'copy',
                           'file_put_contents', 'move_uploaded_file', 'fwrite', 'fputs'))),
    ('list', frozenset(('opendir', 'scandir'))),
    ('sql', frozenset(('mysql_query', 'mysqli_query', 'pg_query', 'mssql_query', 'mysql_db_query'))),
    ('mail', frozenset(('mail',))),
    ('socket', SOCKETS),
)
# include/require of a .php file: the page belongs to an application that has more code.
_APP_INCLUDE = re.compile(rb'(?<![\w$>:])(?:include|require)(?:_once)?\b\s*\(?\s*[^;\n]{0,120}\.php',
                          re.I)
_CAP_TEXT = {'exec': 'runs OS commands', 'destroy': 'deletes/renames/writes files',
             'list': 'lists directories', 'sql': 'runs SQL', 'mail': 'sends mail',
             'socket': 'opens sockets', 'eval': 'evaluates code', 'recon': 'probes the server',
             'upload': 'takes uploads', 'files': 'manages files (six or more kinds of file calls)'}
_FILE_VERBS = (
    ('list', frozenset(('opendir', 'scandir', 'glob'))),
    ('read', frozenset(('readfile', 'highlight_file', 'show_source', 'file_get_contents', 'file'))),
    ('write', frozenset(('fwrite', 'fputs', 'file_put_contents'))),
    ('rename', frozenset(('rename', 'copy'))),
    ('delete', frozenset(('unlink', 'rmdir'))),
    ('perms', frozenset(('chmod', 'chown', 'chgrp', 'touch'))),
    ('mkdir', frozenset(('mkdir',))),
    ('upload', frozenset(('move_uploaded_file',))),
)
_RECON = re.compile(rb'(?<![\w>:$])(?:php_uname|posix_getpwuid|posix_getgrgid|disk_free_space|'
                    rb'disk_total_space|getmyuid|get_current_user|posix_geteuid)\s*\(|'
                    rb'[\'"](?:safe_mode|disable_functions|open_basedir)[\'"]|/etc/passwd|uname -a',
                    re.I)


_APP_INCLUDE_L = _lowered(_APP_INCLUDE)
_RECON_L = _lowered(_RECON)
# form field names, on the lower-cased copy: the literal 'name' is found at C speed
_FIELD_NAME_L = re.compile(rb'name(?<![\w-]name)\s*=\s*\\?[\'"]?([a-z_]\w{0,40})(?![\w\[])')
_FILE_INPUT = re.compile(rb'<input[^>]{0,200}type\s*=\s*[\'"]?file\b')


class FormPages(object):
    """The _Php rules for form-driven file managers and shell toolkits."""

    # Pages with their own HTML form ----------------------------------------------------------
    def form_pages(self):
        """The page's own form fields choosing what runs, and pages that bundle a shell's tools."""
        data = self.data
        calls = self.calls
        fields = None
        fs_hits = collections.OrderedDict()
        for name in sorted((FS_SINKS | OS_SINKS | CODE_SINKS) & calls.keys()):
            if fields is None:
                fields = set()
                for m in _FIELD_NAME_L.finditer(self.low):
                    if data[m.start():m.start() + 4] not in (b'name', b'NAME', b'Name'):
                        continue
                    fields.add(data[m.start(1):m.end(1)].decode('latin-1'))
                    if len(fields) >= 400:
                        break
            for start, paren in calls[name][:50]:
                if _in_comment(data, start):
                    continue
                args = _args(data, paren)
                hit = None
                target = args if name in OS_SINKS or name in CODE_SINKS else (_nth_arg(args, 0) or b'')
                for var in _VAR.findall(target):   # for files: the path / recipient / query
                    v = var.decode('latin-1')
                    if v not in fields:
                        continue
                    if name in OS_SINKS or name in CODE_SINKS:
                        self.hit('php.exec.form_input', start,
                                 text='form field %s reaches %s(): %s' % (v, name, _excerpt(data, start)))
                        hit = True
                        break
                    if v not in self.taint and not self.assigned(v):
                        hit = start
                        break
                if hit is not None:
                    if hit is not True:
                        fs_hits.setdefault(name, hit)
                    break
        for name, start in list(fs_hits.items())[:4]:
            self.hit('php.globals.form_sink', start,
                     text='never-set variable named like a form field reaches %s(): %s'
                     % (name, _excerpt(data, start)))
            if name in WRITES:
                self.unchecked_write(name, start)
        caps = set()
        for cap, names in _CAPABILITIES:
            if calls.keys() & names:
                caps.add(cap)
        if 'eval' in calls or 'assert' in calls:
            if any(b'$' in _args(data, p)[:200] for _, p in calls.get('eval', []) + calls.get('assert', [])):
                caps.add('eval')
        verbs = [v for v, names in _FILE_VERBS if calls.keys() & names]
        if len(verbs) >= 6:                    # list, read, write, rename, delete, chmod, mkdir..
            caps.add('files')                  # on one page: a file manager for the whole server
        if len(caps) < 2 or 'exec' not in caps and len(caps) < 3:
            return
        app = _APP_INCLUDE_L.search(self.low)
        if app and b'$_' not in data[app.start():app.end()]:
            return                             # a page of an application (loads its code),
                                               # not a self-contained shell
        if b'$_FILES' in data or b'HTTP_POST_FILES' in data:
            caps.add('upload')
        if _RECON_L.search(self.low):
            caps.add('recon')
        if len(caps) >= 3 and 'exec' in caps or len(caps) >= 5 or \
                'files' in caps and len(caps) >= 4:
            first = min(p for name in calls for p, _ in calls[name][:1]) if calls else 0
            self.hit('php.shell.toolkit', first, key='toolkit',
                     text='one page with a form that %s' % ', '.join(_CAP_TEXT[c] for c in sorted(caps)),
                     variant=None if 'exec' in caps else 'without_exec')

    def form_picks_directory(self, pos, end):
        """Does the request value at pos open the destination (`$_POST['dir'] . '/' ..`)
        of an upload, named by a field of a file-upload form on the same page?  An uploader
        that lets its visitor choose the directory is a shell's tool; an application's
        upload goes to a directory the code fixes."""
        data = self.data
        if not data[max(0, pos - 40):pos].rstrip(b' \t\r\n(').endswith(b','):
            return False
        sub = _SUBSCRIPT_AFTER.match(data, end)
        if not sub or not re.match(rb'\s*\.', data[sub.end():sub.end() + 20]):
            return False
        key = re.match(rb'\s*\[\s*([\'"]?)(\w{1,40})\1\s*\]', sub.group(0))
        if not key or not _FILE_INPUT.search(self.low):
            return False
        field = key.group(2).lower()
        return any(m.group(1) == field for m in _FIELD_NAME_L.finditer(self.low))
