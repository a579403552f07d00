"""The one fact kept across restarts: until when every change was handled.

On start, files whose ctime is newer than this are scanned, so a file dropped while the daemon
was stopped or crashed is still reported.  Written atomically (temp file + rename) so a crash
mid-write leaves the previous value, never a torn file.
"""
import json
import os


def load(path):
    """Return the saved time (seconds since the epoch), or None when there is no usable state."""
    if not path:
        return None
    try:
        with open(path) as fh:
            value = json.load(fh).get('caught_up')
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def save(path, caught_up):
    """Record `caught_up`; returns False (and changes nothing) when the dir is not writable."""
    if not path:
        return False
    tmp = '%s.%d.tmp' % (path, os.getpid())
    try:
        parent = os.path.dirname(path)
        if parent and not os.path.isdir(parent):
            os.makedirs(parent, 0o750)
        with open(tmp, 'w') as fh:
            json.dump({'caught_up': caught_up}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
