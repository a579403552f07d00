"""Walk a tree the way newfilewatch sees it: excluded dirs pruned, symlinks never followed.

Shared by the watcher (which adds a watch as it enters each dir) and by `scan`.  Iterative, so a
4,000-level deep tree cannot hit Python's recursion limit; os.scandir, so file types come from
the directory listing without a stat per entry.
"""
import os

LEAF = 2      # enter() may return this: watched, and known to have no subdirs (not listed)


def join(directory, name):
    return directory + name if directory.endswith('/') else directory + '/' + name


def walk(top, rules, enter=None, on_error=None, files=True):
    """Yield (path, DirEntry) for every file below `top` that `rules` wants.

    `enter(path, inode)` is called before a dir is listed and may refuse it (returns False);
    it returns LEAF for a dir it knows has no subdirs, which then is not listed unless the
    files are wanted;
    `on_error(path, exc)` hears about dirs that could not be listed.  With files=False only
    the dirs are visited (nothing is yielded).
    """
    stack = [(top, None)]
    wants, prunes = rules.wants_file, rules.prunes_dir
    while stack:
        path, inode = stack.pop()
        if enter is not None:
            entered = enter(path, inode)
            if not entered or (entered is LEAF and not files):
                continue
        try:
            entries = os.scandir(path)
        except OSError as exc:
            if on_error is not None:
                on_error(path, exc)
            continue
        with entries:
            for entry in entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                child = join(path, entry.name)
                if is_dir:
                    if not prunes(child):
                        stack.append((child, entry.inode()))
                elif files and wants(child):
                    yield child, entry
