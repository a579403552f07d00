"""Packaging for newfilewatch (setuptools; runs on the EL7 system Python 3.6 too)."""
import io
import os
import re

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
with io.open(os.path.join(HERE, 'newfilewatch', '__init__.py'), encoding='utf-8') as fh:
    VERSION = re.search(r"__version__ = '([^']+)'", fh.read()).group(1)
with io.open(os.path.join(HERE, 'README.md'), encoding='utf-8') as fh:   # LANG=C in rpmbuild
    LONG_DESCRIPTION = fh.read()

setup(
    name='newfilewatch',
    version=VERSION,
    description='Watch web roots with inotify and report new files that look like webshells',
    long_description=LONG_DESCRIPTION,
    long_description_content_type='text/markdown',
    license='GPL-2.0-or-later',
    packages=['newfilewatch', 'newfilewatch.detect'],
    package_data={'newfilewatch': ['configspec.ini']},
    python_requires='>=3.6',
    install_requires=[
        'pyinotify>=0.9.4',
        'configobj>=5.0.6',
        'python-daemon>=2.1.2',
        'lockfile>=0.12',
        'pyasyncore; python_version >= "3.12"',   # pyinotify imports asyncore at module top level
    ],
    extras_require={
        'test': ['pytest', 'aiosmtpd', 'hypothesis'],
        'yara': ['yara-python'],
    },
    entry_points={'console_scripts': ['newfilewatch = newfilewatch.cli:main']},
    classifiers=[
        'Environment :: No Input/Output (Daemon)',
        'Operating System :: POSIX :: Linux',
        'Programming Language :: Python :: 3',
        'Topic :: Security',
        'Topic :: System :: Monitoring',
    ],
)
