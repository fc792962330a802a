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
  libbenchmark-dev clang-14 libclang-rt-14-dev clang-format
  libsystemd-dev prometheus-cpp-dev prometheus lintian
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages with daemons (prometheus, for promtool) must not start them
  # here: a policy-rc.d saying no for the install, unless one is in place.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    guard=/usr/sbin/policy-rc.d
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$guard" ]; then rm -f "$guard"; fi
fi
