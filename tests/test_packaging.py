"""`pip install .` as README says, in a fresh venv with the pip that venv ships: on Python 3.6
(EL7/EL8; pip 18.1, no backtracking) and on 3.13 (no asyncore; PEP 517 through pyproject.toml).
Slow (a venv and PyPI downloads, or the pip cache, per Python), and it needs PyPI: skipped
with NEWFILEWATCH_OFFLINE=1."""
import glob
import os
import shutil
import subprocess

import pytest

from tests.support.nfw import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    bool(os.environ.get('NEWFILEWATCH_OFFLINE')), reason='NEWFILEWATCH_OFFLINE: needs PyPI')]


def _pyenv_python(version):
    for home in (os.path.expanduser('~'), '/root'):
        found = sorted(glob.glob(os.path.join(home, '.pyenv', 'versions', version + '.*',
                                              'bin', 'python')))
        if found:
            return found[-1]
    return None


def _run(argv, **kwargs):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=kwargs.pop('timeout', 600), **kwargs)
    assert done.returncode == 0, '%s\n%s' % (' '.join(argv), done.stdout[-4000:])
    return done.stdout


def _tracked_copy(dest):
    """The checkout's files as a clone would have them (tracked and new, not ignored), so the
    build neither sees nor leaves build/ or egg-info in the worktree."""
    names = _run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=ROOT).split('\0')
    for name in names:
        if not name or name.startswith('.venv') or not os.path.isfile(os.path.join(ROOT, name)):
            continue
        target = os.path.join(dest, name)
        if not os.path.isdir(os.path.dirname(target)):
            os.makedirs(os.path.dirname(target))
        shutil.copy2(os.path.join(ROOT, name), target)
    return dest


@pytest.mark.parametrize('version', ['3.6', '3.13'])
def test_pip_install_in_a_fresh_venv(version, tmp_path):
    python = _pyenv_python(version)
    if not python:
        pytest.skip('no Python %s under ~/.pyenv/versions' % version)
    source = _tracked_copy(str(tmp_path / 'src'))
    venv = str(tmp_path / 'venv')
    _run([python, '-m', 'venv', venv])
    pip_version = _run([venv + '/bin/python', '-m', 'pip', '--version'])
    _run([venv + '/bin/python', '-m', 'pip', 'install', source], cwd=str(tmp_path))
    assert 'usage: newfilewatch' in _run([venv + '/bin/newfilewatch', '--help'])
    # the daemon's libraries import (pyinotify needs pyasyncore on 3.12+)
    _run([venv + '/bin/python', '-c', 'import newfilewatch.inotify, newfilewatch.daemon'],
         cwd=str(tmp_path))
    # every module of the tree, subpackages too, is installed and imports
    modules = sorted('newfilewatch.' + os.path.relpath(os.path.join(d, f), os.path.join(
        ROOT, 'newfilewatch'))[:-3].replace(os.sep, '.') for d, _, files in os.walk(
        os.path.join(ROOT, 'newfilewatch')) for f in files if f.endswith('.py'))
    modules = [m[:-len('.__init__')] if m.endswith('.__init__') else m for m in modules]
    _run([venv + '/bin/python', '-c', 'import importlib, sys\nfor m in sys.argv[1:]: '
          'importlib.import_module(m)'] + [m for m in modules if m != 'newfilewatch.__main__'],
         cwd=str(tmp_path))
    for page in ('share/man/man8/newfilewatch.8', 'share/man/man5/newfilewatch.conf.5'):
        assert os.path.isfile(os.path.join(venv, page)), page
    assert pip_version.startswith('pip ')


def test_pyproject_declares_the_setuptools_backend():
    text = open(os.path.join(ROOT, 'pyproject.toml')).read()
    assert 'build-backend = "setuptools.build_meta"' in text
    assert "setuptools>=40.8.0,<59.7; python_version < '3.7'" in text     # 59.6: last for 3.6


def test_setup_py_pins_for_python_36():
    text = open(os.path.join(ROOT, 'setup.py')).read()
    assert "'python-daemon>=2.1.2,<3; python_version < \"3.7\"'" in text
    assert "'docutils<0.19; python_version < \"3.7\"'" in text
    assert "license='GPL-2.0-or-later'" in text

