#!/usr/bin/env bash
# What recording costs: a pty session (ssh -tt) through jitgate's SSH front
# pushing SIZE_MIB of output, recorded (record = output) against the same
# unrecorded (record = off), in one run, against one real sshd target.
#   tests/bench/recording_bench.sh [BUILD_DIR] [SIZE_MIB] [ROUNDS] [PAYLOAD]
# PAYLOAD: text (default: SIZE_MIB of "x", as a program printing plain text
# does) or zeros (NUL bytes, each of which asciicast's JSON writes as the six
# bytes \u0000: the worst case for the recording's size).
# Runs as root (it creates and removes a Unix user). Prints MB/s and the
# jitgated CPU seconds of each transfer, best of ROUNDS (alternating), and
# the size of the recording made.
set -euo pipefail
build=$(realpath "${1:-build}")
size_mib=${2:-100}
rounds=${3:-3}
payload=${4:-text}
jitgated=$build/proxy/jitgated
jitctl=$build/policy/jitctl
[ -x "$jitgated" ] && [ -x "$jitctl" ] || { echo "build jitgated and jitctl first" >&2; exit 2; }

work=$(mktemp -d /tmp/jgrbench.XXXXXX)
chmod 755 "$work"
user=jgr$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  userdel -r "$user" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
useradd -m "$user" && usermod -p '*' "$user"
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N "" -f "$work/id"
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tport=$(freeport)

declare -A jpid bport
for mode in off output; do
  mkdir -p "$work/$mode"
  printf '[recordings]\nrecord = "%s"\nmax_size = "4G"\nbudget = "8G"\n' "$mode" >"$work/$mode/jitgated.toml"
  chmod 600 "$work/$mode/jitgated.toml"
  "$jitgated" --config "$work/$mode/jitgated.toml" --state-dir "$work/$mode/state" \
    --control-socket "$work/$mode/c.sock" --ssh-listen 127.0.0.1:0 --winrm-http-listen off \
    --winrm-https-listen off --metrics-listen off >"$work/$mode/jitgated.log" 2>&1 &
  jpid[$mode]=$!
  pids+=($!)
  for _ in $(seq 100); do grep -q "jitgated ready" "$work/$mode/jitgated.log" && break; sleep 0.1; done
  bport[$mode]=$(sed -n 's/.*ssh 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$mode/jitgated.log" | head -1)
  J() { "$jitctl" --socket "$work/$mode/c.sock" "$@"; }
  J ca export --ssh >>"$work/ca.pub"
  J target add vm1 --address 127.0.0.1 --os linux --ssh-port "$tport" >/dev/null
  J policy enable vm1 --port "$tport" --from 127.0.0.0/8 --max 3h >/dev/null
  J user add "$user" --key "$work/id.pub" >/dev/null
  J grant "$user" vm1 --port "$tport" --from 127.0.0.1 --for 2h >/dev/null
done

ssh-keygen -q -t ed25519 -N "" -f "$work/target-host"
cat >"$work/target.conf" <<EOF2
ListenAddress 127.0.0.1:$tport
HostKey $work/target-host
PidFile $work/target.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
TrustedUserCAKeys $work/ca.pub
AuthorizedKeysFile none
AuthorizedPrincipalsCommand /usr/bin/echo %u@vm1
AuthorizedPrincipalsCommandUser nobody
EOF2
/usr/sbin/sshd -f "$work/target.conf" -D -e 2>"$work/target.log" &
pids+=($!)
sleep 0.5
cat >"$work/ssh_config" <<EOF2
Host *
  IdentityFile $work/id
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  BatchMode yes
  LogLevel ERROR
EOF2

ticks=$(getconf CLK_TCK)
cpu_of() { awk -v t="$ticks" '{print ($14+$15)/t}' "/proc/${jpid[$1]}/stat"; }
case $payload in
  text) cmd="head -c ${size_mib}M /dev/zero | tr '\\0' x" ;;
  zeros) cmd="head -c ${size_mib}M /dev/zero" ;;
  *) echo "PAYLOAD is text or zeros" >&2; exit 2 ;;
esac
echo "recording_bench: ${size_mib} MiB of pty output ($payload) per session, best of $rounds ($(date -u +%FT%TZ), $(nproc) CPUs)"
echo "client: $(ssh -V 2>&1); ssh -tt, output to /dev/null"
for round in $(seq "$rounds"); do
  for mode in off output; do
    c0=$(cpu_of "$mode")
    t0=$(date +%s.%N)
    ssh -F "$work/ssh_config" -tt -p "${bport[$mode]}" "$user@vm1@127.0.0.1" "$cmd" \
      >"$work/out" 2>"$work/err" </dev/null || { echo "$mode failed: $(tail -5 "$work/err")" >&2; exit 1; }
    t1=$(date +%s.%N)
    c1=$(cpu_of "$mode")
    got=$(stat -c %s "$work/out")
    echo "$mode $t0 $t1 $c0 $c1 $got"
  done
done | awk -v mib="$size_mib" '
  { s=$3-$2; r=$6/1e6/s; cpu=$5-$4; n[$1]++;
    if (r>best[$1]) {best[$1]=r; bc[$1]=cpu} if (!(($1) in lc) || cpu<lc[$1]) lc[$1]=cpu }
  END {
    printf "%-10s %10s %16s %16s\n", "record", "MB/s", "jitgated CPU-s", "lowest CPU-s";
    for (m in best) printf "%-10s %10.0f %16.2f %16.2f\n", m, best[m], bc[m], lc[m];
    printf "throughput cost %.1f %%, CPU cost %.1f %% (lowest CPU of each)\n",
      (1-best["output"]/best["off"])*100, (lc["output"]/lc["off"]-1)*100 }'
du -sh "$work/output/state/recordings" | awk '{print "recordings made: " $1}'
