"""newfilewatch: watch web roots for new files and report the ones that look like webshells."""

__version__ = '1.0.0'
