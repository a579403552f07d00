"""The one fact kept across restarts: until when every change was handled.

On start, files whose ctime is newer than this are scanned, so a file dropped while the daemon
was stopped or crashed is still reported.  Written atomically (exclusive temp file under an
unguessable name + rename, safefile.atomic_write) so a crash mid-write leaves the previous
value, never a torn file, and a link planted in the state dir is never written through.
"""
import json
import os

from newfilewatch import safefile

MAX_BYTES = 4096


def load(path):
    """Return the saved time (seconds since the epoch), or None when there is no usable state."""
    if not path:
        return None
    try:
        value = json.loads(safefile.read_small(path, MAX_BYTES).decode('utf-8')).get('caught_up')
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def save(path, caught_up):
    """Record `caught_up`; returns False (and changes nothing) when the dir is not writable."""
    if not path:
        return False
    try:
        parent = os.path.dirname(path)
        if parent:
            safefile.make_dirs(parent, 0o750)
        safefile.atomic_write(path, json.dumps({'caught_up': caught_up}).encode('ascii'))
        return True
    except OSError:
        return False
