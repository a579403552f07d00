"""Test-wide setup: make `tests.support` importable however pytest is started."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Test modules that need root, daemons or loopback servers.  The RPM's %check (which may run as
# any user, offline, in a build root) sets NEWFILEWATCH_PURE_TESTS=1 to leave them out.
NEEDS_SYSTEM = {'test_cli', 'test_mailer', 'test_alerts', 'test_daemon', 'test_initscript',
                'test_privileges', 'test_rpm', 'test_hooks', 'test_webhook', 'test_quarantine',
                'test_owners', 'test_throttle', 'test_report'}


def pytest_collection_modifyitems(config, items):
    if os.environ.get('NEWFILEWATCH_PURE_TESTS') != '1':
        return
    import pytest
    skip = pytest.mark.skip(reason='NEWFILEWATCH_PURE_TESTS=1: needs root, daemons or servers')
    for item in items:
        if item.module.__name__.rpartition('.')[2] in NEEDS_SYSTEM:
            item.add_marker(skip)


NEEDS_SYSTEM |= {'test_fanwatch'}      # mounts ext4 (loop), tmpfs and ramfs as root
