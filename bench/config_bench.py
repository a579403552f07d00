"""How long `check-config` takes on a config with many typos (issue 15: 16,000 took 185 s).

    python bench/config_bench.py [--typos 16000]
Prints the wall time of config.load on a [watch] section of N unknown keys.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from newfilewatch import config  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--typos', type=int, default=16000)
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False) as fh:
        fh.write('[watch]\n' + ''.join('typo%d = 1\n' % i for i in range(args.typos)))
    try:
        started = time.perf_counter()
        try:
            config.load(fh.name)
            found = 0
        except config.ConfigError as exc:
            found = len(exc.problems)
        took = time.perf_counter() - started
    finally:
        os.unlink(fh.name)
    print('%d typos: %d problems reported in %.2f s' % (args.typos, found, took))


if __name__ == '__main__':
    main()
