"""Real filesystems mounted for one test: an ext4 image on a loop device, tmpfs, ramfs.

fanotify's whole-filesystem marks behave per filesystem type (fsid, file handles), so the
fanotify tests run on each kind the kernel here offers; every mount is undone in a finally.
"""
import contextlib
import os
import shutil
import subprocess
import tempfile

import pytest

KINDS = ('ext4', 'tmpfs')


def _run(argv):
    subprocess.check_call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def mounted(kind, size_mb=64):
    """A fresh filesystem of `kind` ('ext4' loop image in /var/tmp, 'tmpfs', 'ramfs')."""
    if os.geteuid() != 0:
        pytest.skip('mounting needs root')
    base = tempfile.mkdtemp(prefix='nfw-%s-' % kind, dir='/var/tmp')
    os.chmod(base, 0o755)                 # a daemon test's service user must get through
    point = os.path.join(base, 'mnt')
    os.mkdir(point)
    image = None
    try:
        if kind == 'ext4':
            if not shutil.which('mkfs.ext4'):
                pytest.skip('mkfs.ext4 missing (e2fsprogs)')
            image = os.path.join(base, 'fs.img')
            with open(image, 'wb') as fh:
                fh.truncate(size_mb << 20)
            _run(['mkfs.ext4', '-q', '-F', image])
            try:
                _run(['mount', '-o', 'loop', image, point])
            except subprocess.CalledProcessError:
                pytest.skip('no loop devices here')
        else:
            _run(['mount', '-t', kind, '-o', 'size=%dm' % size_mb if kind == 'tmpfs' else
                  'defaults', kind, point])
        try:
            yield point
        finally:
            subprocess.call(['umount', '-l', point], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    finally:
        shutil.rmtree(base, ignore_errors=True)
