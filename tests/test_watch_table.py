"""The watcher's compact wd -> path table and its batched handling of IN_CREATE.

WatchTable must behave exactly as the dict it replaced (the rest of the watcher and the
service use it as a mapping); process() must hand on the same candidates whether a file's
create and close arrive in one batch or in two.  Plain values and the real kernel, nothing timed.
"""
import os
import random

from newfilewatch import inotify
from newfilewatch.rules import PathRules
from newfilewatch.watcher import Watcher, WatchTable, mount_types

RULES = PathRules(include=('*.php',))


def test_watch_table_behaves_as_a_dict_under_random_operations():
    rng = random.Random(6)
    table, model = WatchTable(), {}
    next_wd = 1
    for step in range(20000):
        op = rng.random()
        if op < 0.6:                                   # the kernel's increasing wds
            wd, next_wd = next_wd, next_wd + rng.choice((1, 1, 1, 2, 50))
        elif model and op < 0.7:                       # re-adding a watched dir: same wd
            wd = rng.choice(sorted(model))
        elif model:
            wd = rng.choice(sorted(model))
            if rng.random() < 0.5:
                del table[wd], model[wd]
            else:
                assert table.pop(wd) == model.pop(wd)
            continue
        else:
            continue
        table[wd] = model[wd] = '/d/%d/%d' % (wd, step)
    assert len(table) == len(model)
    assert dict(table) == model
    assert sorted(table.values()) == sorted(model.values())
    for wd in range(-1, next_wd + 2):
        assert table.get(wd) == model.get(wd)
        assert (wd in table) == (wd in model)


def test_watch_table_list_stays_within_twice_the_live_watches():
    table = WatchTable()
    for wd in range(1, 200001):                        # a long life of mkdir + rmdir
        table[wd] = '/www/d%d' % wd
        if wd > 10:
            del table[wd - 10]
    assert len(table) == 10
    assert len(table.low) <= 2 * 10 + 1024 + 1
    assert sorted(table) == list(range(199991, 200001))


def test_create_and_close_in_one_batch_or_two_give_the_same_candidates(tmp_path):
    got = []
    watcher = Watcher([str(tmp_path)], RULES, got.append, settle_delay=3600)
    try:
        watcher.start()
        wd = next(iter(watcher.paths))
        create, close = inotify.IN_CREATE, inotify.IN_CLOSE_WRITE
        (tmp_path / 'a.php').write_bytes(b'x')
        (tmp_path / 'b.php').write_bytes(b'x')
        os.symlink('/etc/passwd', str(tmp_path / 'l.php'))
        watcher.process([(wd, create, 0, b'a.php'), (wd, close, 0, b'a.php'),
                         (wd, create, 0, b'l.php'), (wd, create, 0, b'b.php')], 1.0)
        assert [(c.path, c.reason) for c in got] == [
            (str(tmp_path / 'a.php'), 'close_write'), (str(tmp_path / 'l.php'), 'created')]
        assert list(watcher.created) == [str(tmp_path / 'b.php')]   # open: waits for its close
        watcher.process([(wd, close, 0, b'b.php')], 2.0)
        assert got[-1][:3] == (str(tmp_path / 'b.php'), False, 'close_write')   # + writer
        assert not watcher.created
    finally:
        watcher.close()


def test_mountinfo_parsing_names_each_device_type():
    text = ('22 1 0:23 / /dev/shm rw,nosuid shared:3 - tmpfs tmpfs rw\n'
            '23 1 253:0 / / rw,relatime - ext4 /dev/vda rw\n'
            '24 1 0:40 / /mnt/b rw - btrfs /dev/vdb rw\n'
            'garbage line\n')
    assert mount_types(text) == {(0, 23): 'tmpfs', (253, 0): 'ext4', (0, 40): 'btrfs'}


def test_leaf_dirs_skipped_by_the_setup_walk_are_still_all_watched(tmp_path):
    root = tmp_path / 'www'
    for rel in ('a/b/c', 'a/d', 'e', 'f/g/h/i'):
        (root / rel).mkdir(parents=True)
    (root / 'a' / 'd' / 'x.php').write_bytes(b'<?php')
    want = sorted(p for p, _d, _f in os.walk(str(root)))
    got = []
    watcher = Watcher([str(root)], RULES, got.append, settle_delay=3600)
    try:
        assert watcher.start() == len(want)
        assert sorted(watcher.paths.values()) == want
        assert got == []                                  # setup walk hands on no files
        watcher.rescan(since=0)                          # a sweep lists leaves: x.php found
        assert [c.path for c in got] == [str(root / 'a' / 'd' / 'x.php')]
    finally:
        watcher.close()
