"""`make rpm` of a checkout into a temp topdir, for the tests that need a built package."""
import os
import shutil
import subprocess
import sys
import tempfile

from tests.support.service import ROOT


def build(options, checkout=ROOT, check=False, python=sys.executable):
    """`make rpm` in `checkout` into a temp topdir: (topdir, binary rpm path)."""
    top = tempfile.mkdtemp(prefix='nfw-rpm-')
    argv = ['make', '-C', checkout, 'rpm', 'TOPDIR=%s' % top, 'DISTDIR=%s' % top,
            'RPMBUILD_OPTS=%s%s' % ('' if check else '--without check ', options)]
    if python:
        argv.append('PYTHON=%s' % python)
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=600)
    if done.returncode != 0:
        shutil.rmtree(top, ignore_errors=True)
    assert done.returncode == 0, done.stdout[-5000:]
    rpms = [os.path.join(top, 'RPMS', 'noarch', n)
            for n in os.listdir(os.path.join(top, 'RPMS', 'noarch'))]
    assert len(rpms) == 1
    return top, rpms[0]
