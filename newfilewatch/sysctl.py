"""Raise fs.inotify.max_user_watches, now and across reboots, and never lower it.

Each watched directory costs one inotify watch; the EL6-era default of 8192 runs out on the first
busy web host, after which new directories silently go unwatched.  `newfilewatch tune-sysctl`
(also run by the RPM's %post) raises the limit in /proc now and in a sysctl config file for the
next boot.  The decisions (which value, which file, how to edit its text) are pure functions; the
file I/O at the bottom is a thin shell.
"""
import os
import re
import sys
import tempfile

KEY = 'fs.inotify.max_user_watches'
DEFAULT_VALUE = 524288
PROC_FILE = '/proc/sys/fs/inotify/max_user_watches'
DROP_IN = '/etc/sysctl.d/90-newfilewatch.conf'
SYSCTL_CONF = '/etc/sysctl.conf'

# `fs.inotify.max_user_watches = N`; sysctl also accepts '/' as the separator.
_LINE = re.compile(r'^(\s*)(-?)\s*fs[./]inotify[./]max_user_watches\s*=\s*(\S*)\s*$')


def parse_value(text):
    """The integer in a proc file's text, or None."""
    try:
        return int(text.strip())
    except (ValueError, AttributeError):
        return None


def wanted_value(current, value):
    """The value to set: `value`, unless `current` is already larger (we never lower)."""
    if current is not None and current >= value:
        return None
    return value


def conf_values(text):
    """Values the config text sets for the key, in order (the last one wins at boot)."""
    values = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            values.append(parse_value(m.group(3)))
    return values


def edit_conf(text, value):
    """Config text that sets the key to at least `value`; the same text when nothing is needed.

    Lines setting a lower (or unreadable) value are rewritten in place, keeping their position
    and indentation; a larger value is kept; with no line at all one is appended.
    """
    lines = text.splitlines(True)
    found = False
    for i, line in enumerate(lines):
        m = _LINE.match(line.rstrip('\n'))
        if not m:
            continue
        found = True
        current = parse_value(m.group(3))
        if current is None or current < value:
            ending = '\n' if line.endswith('\n') else ''
            lines[i] = '%s%s%s = %d%s' % (m.group(1), m.group(2), KEY, value, ending)
    if not found:
        if lines and not lines[-1].endswith('\n'):
            lines[-1] += '\n'
        lines.append('# Raised by newfilewatch: one inotify watch per watched directory.\n')
        lines.append('%s = %d\n' % (KEY, value))
    return ''.join(lines)


def choose_conf_file(sysctl_conf_text, sysctl_d_exists):
    """Where the persistent setting goes.

    /etc/sysctl.conf is read last at boot, so if it already sets the key it must be edited
    there (a drop-in would be overridden); otherwise our own drop-in where sysctl.d is read
    (EL6.x initscripts, systemd), else /etc/sysctl.conf.
    """
    if sysctl_conf_text and conf_values(sysctl_conf_text):
        return SYSCTL_CONF
    return DROP_IN if sysctl_d_exists else SYSCTL_CONF


# --- thin I/O shell ------------------------------------------------------------------------

def _read(path):
    try:
        with open(path) as fh:
            return fh.read()
    except (OSError, IOError):
        return None


def watch_limit(proc_file=PROC_FILE):
    """The kernel's current per-user watch limit, or None where it cannot be read."""
    return parse_value(_read(proc_file) or '')


def _write_atomically(path, text):
    directory = os.path.dirname(os.path.abspath(path))
    mode = 0o644
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix='.newfilewatch-', dir=directory)
    try:
        with os.fdopen(fd, 'w') as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def tune_command(value=None, proc_file=None, conf_file=None, out=sys.stdout):
    """`newfilewatch tune-sysctl`: 0 when the limit is (now) at least `value`, 1 on an error."""
    value = DEFAULT_VALUE if value is None else int(value)
    proc_file = proc_file or PROC_FILE
    if conf_file is None:
        conf_file = choose_conf_file(_read(SYSCTL_CONF), os.path.isdir(os.path.dirname(DROP_IN)))
    rc = 0

    current = watch_limit(proc_file)
    target = wanted_value(current, value)
    if target is None:
        out.write('%s: %s is %d, at least %d: left alone\n' % (KEY, proc_file, current, value))
    else:
        try:
            with open(proc_file, 'w') as fh:
                fh.write('%d\n' % target)
            out.write('%s: %s raised from %s to %d\n' % (KEY, proc_file, current, target))
        except (OSError, IOError) as exc:
            out.write('%s: cannot write %s: %s\n' % (KEY, proc_file, exc))
            rc = 1

    text = _read(conf_file)
    old = text or ''
    new = edit_conf(old, value)
    if new == old:
        out.write('%s: %s already sets %s: left alone\n'
                  % (KEY, conf_file, ', '.join(str(v) for v in conf_values(old))))
    else:
        try:
            _write_atomically(conf_file, new)
            out.write('%s: %s now sets %d (applied at boot)\n' % (KEY, conf_file, value))
        except (OSError, IOError) as exc:
            out.write('%s: cannot write %s: %s\n' % (KEY, conf_file, exc))
            rc = 1
    return rc
