#!/usr/bin/env bash
# Install what the test suite needs, idempotently: system packages (as root) and one venv per
# Python the project promises to run on (3.6 = EL7/EL8 system Python, the default python3, 3.13
# = no asyncore).  Used by `make check` and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
# stdout carries only the venv names (tests/run.sh reads them); everything else goes to stderr
exec 3>&1 1>&2

APT_PACKAGES="rpm rpmlint shellcheck debootstrap systemd man-db python3-pytest python3-setuptools msmtp-mta inotify-tools make git tar passwd util-linux"
missing=""
APT_PACKAGES="$APT_PACKAGES e2fsprogs mount"   # mkfs.ext4 + mount -o loop: fanotify tests
for p in $APT_PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "tests/setup.sh: need root to install:$missing" >&2; exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # msmtp-mta asks about AppArmor through debconf; noninteractive takes the default
  apt-get install -y -q --no-install-recommends $missing
fi

# python interpreters: the default one always; 3.6 and 3.13 from pyenv where present
pythons="$(command -v python3)"
for v in 3.6 3.13; do
  for candidate in "$HOME"/.pyenv/versions/$v.*/bin/python /root/.pyenv/versions/$v.*/bin/python; do
    if [ -x "$candidate" ]; then pythons="$pythons $candidate"; break; fi
  done
done

for py in $pythons; do
  ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  venv=".venv-$ver"
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
  fi
  stamp="$venv/.installed"
  want="$(cat setup.py tests/requirements*.txt 2>/dev/null | sha256sum | cut -c1-16)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    if [ "$ver" = 3.6 ]; then
      "$venv/bin/python" -m pip install -q --upgrade 'pip<22'    # 21.3.1: the last for 3.6
      "$venv/bin/python" -m pip install -q -r tests/requirements-py36.txt
    else
      "$venv/bin/python" -m pip install -q --upgrade pip
      "$venv/bin/python" -m pip install -q -r tests/requirements.txt
    fi
    "$venv/bin/python" -m pip install -q --no-deps -e .
    echo "$want" > "$stamp"
  fi
  echo "$venv" >&3
done
