"""Plain values that travel along the one-way path watcher -> scanner -> sinks.

They are namedtuples so they are immutable, cheap, and print usefully in test failures;
every layer can import them because they depend on nothing.
"""
import collections

# One reason a file looks bad.  `line` is 1-based (0 when the hit is about the file as a whole,
# e.g. "PHP code inside an image"); `text` is an excerpt, never the whole line.
Hit = collections.namedtuple('Hit', 'rule line text severity weight')

# A path the watcher hands on.  `synthetic` is True when the kernel never sent an event for it
# (found by a sweep of a new dir, an overflow rescan, a restart catch-up or a settle timer),
# as watchdog's is_synthetic: useful in logs, never a reason to treat the file differently.
# `writer` is a Writer when the kernel named the process (fanotify), else None (inotify never
# does, nor does a sweep); optional, so Candidate(path, synthetic, reason) keeps working.
Candidate = collections.namedtuple('Candidate', 'path synthetic reason writer')
Candidate.__new__.__defaults__ = (None,)

# The process that wrote a file, read from /proc/PID when its event was read (it may be gone a
# moment later).  comm/user/pool are raw text (escape before showing); comm 'unknown' with
# uid -1 when the process was already gone.  pool: the PHP-FPM pool name, or ''.
Writer = collections.namedtuple('Writer', 'pid comm uid user pool')

# What the scanner concluded about one path.
#   path       str (surrogateescape'd as os.fsdecode gives it; escape before showing)
#   kind       'file' | 'symlink' | 'fifo' | 'socket' | 'device' | 'directory' | 'gone'
#   owner      user name (or the numeric uid as text when the uid has no name)
#   uid, size  from lstat/fstat; size of the whole file even when only part was read
#   sha256     hex of the whole content when read whole, of head+tail when `partial`
#   score      sum of hit weights; suspicious when it reaches the threshold
#   hits       tuple of Hit
#   note       '' or a short human reason ('symlink, not followed', 'hard link to a file of root')
#   partial    True when only the head and tail of a large file were read
#   private    True when the content must not be quoted in mail (foreign hard link)
#   known_good True when the content matches a published checksum (WordPress core or plugin):
#              not analysed, never alerted; `note` says which list it matched
Finding = collections.namedtuple(
    'Finding', 'path kind owner uid size sha256 score suspicious hits note partial private time '
    'writer known_good')
Finding.__new__.__defaults__ = (None, False)     # writer (a Writer or None), known_good


def finding(path, kind='file', owner='', uid=-1, size=0, sha256='', score=0, suspicious=False,
            hits=(), note='', partial=False, private=False, time=0.0, writer=None,
            known_good=False):
    """Build a Finding with defaults, so callers name only what they know.

    `writer` may come back from the alert spool's JSON as a list: it is made a Writer again.
    """
    if writer is not None and not isinstance(writer, Writer):
        writer = Writer(*writer)
    return Finding(path, kind, owner, uid, size, sha256, score, suspicious, tuple(hits), note,
                   partial, private, time, writer, known_good)
