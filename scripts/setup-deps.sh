#!/usr/bin/env bash
# Installs the Debian 12 packages jitgate needs to build, run and test.
# Idempotent: only missing packages are installed.
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config
  libssh-dev libssl-dev libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libpam0g-dev libsqlite3-dev
  libtomlplusplus-dev libcli11-dev
  openssh-client openssh-server python3-winrm python3-paramiko curl
  libbenchmark-dev clang-14 libclang-rt-14-dev clang-format ccache
  libsystemd-dev prometheus-cpp-dev prometheus lintian
  libpq-dev postgresql
  python3-asyncssh ansible-core
  ssh-audit testssl.sh iproute2
  libvterm-dev asciinema
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-deps: ${#missing[@]} Debian packages to install: ${missing[*]}"
  echo "setup-deps: this takes a few minutes on a fresh machine (apt output in ${APT_LOG:=/tmp/jitgate-setup-deps.log})"
  export DEBIAN_FRONTEND=noninteractive
  echo "setup-deps: apt-get update"
  apt-get update -qq >"$APT_LOG" 2>&1 || { cat "$APT_LOG"; exit 1; }
  echo "setup-deps: apt-get install (downloading and unpacking)"
  # Packages with daemons (prometheus, for promtool) must not start them
  # here: a policy-rc.d saying no for the install, unless one is in place.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    guard=/usr/sbin/policy-rc.d
  fi
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$APT_LOG" 2>&1; then
    [ -z "$guard" ] || rm -f "$guard"
    tail -30 "$APT_LOG"
    echo "setup-deps: apt-get install failed (whole log: $APT_LOG)"
    exit 1
  fi
  [ -z "$guard" ] || rm -f "$guard"
  echo "setup-deps: done"
else
  echo "setup-deps: all ${#pkgs[@]} Debian packages jitgate needs are installed"
fi
