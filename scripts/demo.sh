#!/usr/bin/env bash
# Installs what is missing, builds jitgated and jitctl, installs them under
# /usr/local, and runs jitgated in the foreground on its built-in defaults:
# store in /var/lib/jitgate, control socket /run/jitgate/control.sock.
# Stop it with Ctrl-C. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}

bash scripts/setup-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" --target jitgated jitctl pam_jitgate jitgate-cutoff
cmake --install build --prefix /usr/local >/dev/null
cat <<'MSG'

jitgated is starting on its defaults. In another terminal, as root:

  jitctl target add vm1 --address 10.0.0.5 --os linux
  jitctl policy enable vm1 --port 22 --from 10.0.0.0/8 --max 3h
  jitctl grant alice vm1 --port 22 --from 10.1.2.3 --for 30m --justification "patch night"
  jitctl grants --active
  jitctl check alice vm1 --port 22 --source 10.1.2.3
  jitctl audit --csv

MSG
exec /usr/local/sbin/jitgated
