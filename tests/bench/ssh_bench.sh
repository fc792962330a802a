#!/usr/bin/env bash
# Throughput and connection setup through jitgate's SSH front, against
# OpenSSH in the same run: a target sshd on 127.0.0.1 trusting jitgate's CA,
# a stock sshd as a ProxyJump bastion, and the real ssh client.
#   tests/bench/ssh_bench.sh [BUILD_DIR] [SIZE_MIB] [SETUP_RUNS]
# Runs as root (it creates and removes a Unix user). Prints MB/s and the
# CPU seconds per GiB of the bastion process (jitgated, or the stock sshd's
# per-connection processes), and the median time of `ssh ... true`.
set -euo pipefail
build=$(realpath "${1:-build}")
size_mib=${2:-1024}
runs=${3:-20}
jitgated=$build/proxy/jitgated
jitctl=$build/policy/jitctl
[ -x "$jitgated" ] && [ -x "$jitctl" ] || { echo "build jitgated and jitctl first" >&2; exit 2; }

work=$(mktemp -d /tmp/jgbench.XXXXXX)
chmod 755 "$work"
user=jgb$$
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

"$jitgated" --state-dir "$work/state" --control-socket "$work/c.sock" --ssh-listen 127.0.0.1:0 \
  --winrm-http-listen off --winrm-https-listen off --metrics-listen off >"$work/jitgated.log" 2>&1 &
jpid=$!
pids+=("$jpid")
for _ in $(seq 100); do grep -q "jitgated ready" "$work/jitgated.log" && break; sleep 0.1; done
bport=$(sed -n 's/.*ssh 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/jitgated.log" | head -1)
J() { "$jitctl" --socket "$work/c.sock" "$@"; }

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_sshd() {  # NAME PORT EXTRA...
  local name=$1 port=$2; shift 2
  ssh-keygen -q -t ed25519 -N "" -f "$work/$name-host"
  {
    echo "ListenAddress 127.0.0.1:$port"
    echo "HostKey $work/$name-host"
    echo "PidFile $work/$name.pid"
    echo "PasswordAuthentication no"
    echo "KbdInteractiveAuthentication no"
    echo "StrictModes no"
    echo "MaxStartups 100"
    for l in "$@"; do echo "$l"; done
  } >"$work/$name.conf"
  /usr/sbin/sshd -f "$work/$name.conf" -D -e 2>"$work/$name.log" &
  pids+=($!)
  echo $! >"$work/$name.master"
}
J ca export --ssh >"$work/ca.pub"
cp "$work/id.pub" "$work/authorized_keys"
tport=$(freeport)
start_sshd target "$tport" "TrustedUserCAKeys $work/ca.pub" "AuthorizedKeysFile none"
sport=$(freeport)
start_sshd stock "$sport" "AuthorizedKeysFile $work/authorized_keys" "AllowTcpForwarding yes"
sleep 0.5

J target add vm1 --address 127.0.0.1 --os linux --ssh-port "$tport" >/dev/null
J policy enable vm1 --port "$tport" --from 127.0.0.0/8 --max 3h >/dev/null
J user add "$user" --key "$work/id.pub" >/dev/null
grant=$(J grant "$user" vm1 --port "$tport" --from 127.0.0.1 --for 2h)
J cert ssh "$grant" --pubkey "$work/id.pub" -o "$work/id-cert.pub" >/dev/null

cat >"$work/ssh_config" <<EOF
Host *
  IdentityFile $work/id
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  BatchMode yes
  LogLevel ${SSH_LOGLEVEL:-ERROR}
  ${SSH_EXTRA:-}
EOF
S=(ssh -F "$work/ssh_config")
declare -A mode
mode[direct]="${S[*]} -p $tport $user@127.0.0.1"
mode[openssh-proxyjump]="${S[*]} -J $user@127.0.0.1:$sport -p $tport $user@127.0.0.1"
mode[jitgate-forward]="${S[*]} -J $user@127.0.0.1:$bport -p $tport $user@vm1"
mode[jitgate-terminating]="${S[*]} -p $bport $user@vm1@127.0.0.1"
order=(${MODES:-direct openssh-proxyjump jitgate-forward jitgate-terminating})

ticks=$(getconf CLK_TCK)
cpu_of() {  # jitgated: its own CPU; stock sshd: its reaped children's
  case $1 in
    jitgate-*) awk -v t="$ticks" '{print ($14+$15)/t}' "/proc/$jpid/stat" ;;
    openssh-proxyjump) awk -v t="$ticks" '{print ($16+$17)/t}' "/proc/$(cat "$work/stock.master")/stat" ;;
    *) echo 0 ;;
  esac
}

echo "ssh_bench: $size_mib MiB per transfer, $runs setups per mode ($(date -u +%FT%TZ), $(nproc) CPUs)"
echo "client: $(ssh -V 2>&1); cipher as negotiated by default"
printf "%-22s %-9s %10s %14s\n" "mode" "direction" "MB/s" "bastion CPU-s/GiB"
for dir in upload download; do
for m in "${order[@]}"; do
  for _ in 1 2; do  # best of two: this VM loses CPU to its hypervisor in bursts
    c0=$(cpu_of "$m")
    t0=$(date +%s.%N)
    if [ "$dir" = upload ]; then
      head -c "${size_mib}M" /dev/zero | ${mode[$m]} 'cat >/dev/null' 2>"$work/err"
    else
      ${mode[$m]} "head -c ${size_mib}M /dev/zero" 2>"$work/err" >/dev/null
    fi || { echo "$m $dir failed ($?): $(tail -20 "$work/err")" >&2; tail -5 "$work/jitgated.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    c1=$(cpu_of "$m")
    echo "$m $t0 $t1 $c0 $c1"
  done | awk -v mib="$size_mib" -v dir="$dir" '
    { s=$3-$2; r=mib*1048576/1e6/s; cpu=($5-$4)/(mib/1024);
      if (r>best) {best=r; bc=cpu} name=$1 }
    END { printf "%-22s %-9s %10.0f %14.2f\n", name, dir, best, bc }'
done
done

echo
printf "%-22s %12s %12s\n" "mode" "setup p50" "setup p90"
for m in "${order[@]}"; do
  for _ in $(seq "$runs"); do
    t0=$(date +%s.%N)
    ${mode[$m]} true
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
  done | sort -n | awk -v name="$m" '{v[NR]=$1} END {
    p50=v[int((NR+1)/2)]; p90=v[int(NR*0.9+0.5)]; if (p90=="") p90=v[NR];
    printf "%-22s %10.0f ms %10.0f ms\n", name, p50*1000, p90*1000 }'
done
