#!/usr/bin/env bash
# README's test command runs this (through `make check`): set up, then the whole suite on every
# Python we promise (3.6, the default python3, 3.13), then the 3.6 syntax check.
set -uo pipefail
cd "$(dirname "$0")/.."
venvs=$(bash tests/setup.sh) || exit 1
status=0
for venv in $venvs; do
  echo "=== $($venv/bin/python --version 2>&1) ($venv)"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests "$@" || status=1
done
default=$(echo $venvs | awk '{print $1}')
echo "=== vermin: the code must run on Python 3.6"
"$default/bin/vermin" -q -t=3.6- --no-tips --violations --exclude-regex '^\.venv' newfilewatch bench setup.py || status=1
exit $status
