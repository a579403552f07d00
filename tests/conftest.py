"""Test-wide setup: make `tests.support` importable however pytest is started.

The RPM's %check (which may run as any user, offline, in a build root, with nothing installed
but Python and pytest) sets NEWFILEWATCH_PURE_TESTS=1.  Then only the pure tests run: modules
that need root, daemons or servers (NEEDS_SYSTEM) are left out, and so is every module that
imports, directly or through the project modules and tests.support helpers it imports, a
library other than the standard one and pytest.  Those libraries are also blocked from import in
that mode, so %check behaves the same on a bare build host and on a developer's full venv (a
new test module that needs one is found by the fresh-clone `make rpm` test, not on EL).
"""
import ast
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

PURE = os.environ.get('NEWFILEWATCH_PURE_TESTS') == '1'

# Test modules that need root, daemons or loopback servers.
NEEDS_SYSTEM = {'test_cli', 'test_mailer', 'test_alerts', 'test_daemon', 'test_initscript',
                'test_privileges', 'test_rpm', 'test_packaging', 'test_scriptlets',
                'test_hooks', 'test_webhook', 'test_quarantine', 'test_owners', 'test_throttle',
                'test_report'}
NEEDS_SYSTEM |= {'test_scancmd', 'test_checksums', 'test_integrity'}   # loopback HTTP servers
NEEDS_SYSTEM |= {'test_fanwatch'}      # mounts ext4 (loop), tmpfs and ramfs as root

# What the pure tests may not use: the runtime libraries and the test-only ones.
NOT_PURE = {'pyinotify', 'configobj', 'validate', 'daemon', 'lockfile',
            'hypothesis', 'aiosmtpd', 'public', 'atpublic', 'attr', 'yara'}


def _top_imports(path):
    """Dotted names a module imports at its top level (not inside functions: those run only
    when the test that needs them runs)."""
    try:
        with open(path, 'rb') as fh:
            tree = ast.parse(fh.read(), path)
    except (OSError, SyntaxError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.Try, ast.If)):
            continue                   # optional imports guard themselves
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update('%s.%s' % (node.module, alias.name) for alias in node.names)
    return names


def _local_file(name):
    """The file of a project or tests.support module, or None for anything else."""
    if name.split('.')[0] not in ('newfilewatch', 'tests'):
        return None
    base = os.path.join(ROOT, *name.split('.'))
    for candidate in (base + '.py', os.path.join(base, '__init__.py')):
        if os.path.isfile(candidate):
            return candidate
    return None


def impure_imports(path):
    """The non-pure libraries a test module reaches through its top-level imports."""
    seen, todo, found = set(), [path], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in _top_imports(current):
            if name.split('.')[0] in NOT_PURE:
                found.add(name.split('.')[0])
            local = _local_file(name)
            if local:
                todo.append(local)
    return found


class PureImportError(ImportError):
    """A library the pure tests may not use was imported (only with NEWFILEWATCH_PURE_TESTS=1)."""


class _Blocked(object):
    """A meta-path finder refusing the non-pure libraries (Python 3.6's find_module API)."""

    def find_module(self, fullname, path=None):
        return self if fullname.split('.')[0] in NOT_PURE else None

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split('.')[0] in NOT_PURE:
            raise PureImportError('%s: not for the pure tests (%%check)' % fullname)
        return None

    def load_module(self, fullname):
        raise PureImportError('%s: not for the pure tests (%%check)' % fullname)


def pytest_pyfunc_call(pyfuncitem):
    """In pure mode, a test of a pure module that imports a blocked library inside the test
    (a lazy import, e.g. config through the engine) is skipped, not failed."""
    if not PURE:
        return None
    import pytest
    names = pyfuncitem._fixtureinfo.argnames
    try:
        pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names})
    except PureImportError as exc:
        pytest.skip(str(exc))
    return True


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: builds venvs or a Debian root (minutes)')


collect_ignore = []
if PURE:
    sys.meta_path.insert(0, _Blocked())
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sorted(os.listdir(here)):
        if entry.startswith('test_') and entry.endswith('.py'):
            if entry[:-3] in NEEDS_SYSTEM or impure_imports(os.path.join(here, entry)):
                collect_ignore.append(entry)
