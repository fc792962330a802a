#!/usr/bin/env bash
# The Debian package, from the existing build tree (configured with
# -DCMAKE_INSTALL_PREFIX=/usr, as scripts/test.sh does): cpack -G DEB,
# lintian (no errors), dpkg-deb --contents, the unit (systemd-analyze verify
# and security), then installed on this machine, run (--version,
# --check-config), removed and purged, leaving nothing behind. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
fail() { echo "package test: $*" >&2; exit 1; }

if dpkg-query -W -f='${Status}' jitgate 2>/dev/null | grep -q "installed"; then
  fail "a jitgate package is installed already; remove it first (dpkg --purge jitgate)"
fi
if getent passwd jitgate >/dev/null || [ -e /var/lib/jitgate ] || [ -e /etc/jitgate ]; then
  fail "a jitgate user, /var/lib/jitgate or /etc/jitgate exists: not this test's to touch"
fi
[ -f "$build/CPackConfig.cmake" ] || fail "$build has no CPackConfig.cmake (configure it with -DCMAKE_INSTALL_PREFIX=/usr)"

echo "== package: cpack -G DEB"
rm -rf "$build/package"
(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/package/jitgate_*.deb)
echo "$(basename "$deb"): $(du -k "$deb" | cut -f1) KiB"

echo "== package: lintian"
lintian --fail-on error "$deb" | tee "$build/package/lintian.txt" || {
  fail "lintian reports errors (above)"
}
echo "lintian: $(grep -c '^E:' "$build/package/lintian.txt" || true) errors, $(grep -c '^W:' "$build/package/lintian.txt" || true) warnings"

echo "== package: dpkg-deb --contents"
contents=$(dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's|^\./|/|')
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for path in /usr/sbin/jitgated /usr/bin/jitctl /usr/libexec/jitgate-cutoff \
    "/usr/lib/$multiarch/security/pam_jitgate.so" /usr/lib/systemd/system/jitgated.service \
    /etc/jitgate/jitgated.toml /usr/share/bash-completion/completions/jitctl \
    /usr/share/man/man8/jitgated.8.gz /usr/share/man/man1/jitctl.1.gz \
    /usr/share/man/man8/pam_jitgate.8.gz /usr/share/doc/jitgate/copyright \
    /usr/share/doc/jitgate/changelog.gz; do
  grep -qx "$path" <<<"$contents" || fail "$path is not in the package"
done
if grep -E '^/usr/(include|local)|\.a$|/tests?/' <<<"$contents"; then
  fail "the package holds build or test files (above)"
fi
control=$(dpkg-deb --field "$deb")
grep -q '^Depends:.*libssh-4' <<<"$control" || fail "Depends lacks the shared libraries: $control"
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = "/etc/jitgate/jitgated.toml" ] ||
  fail "conffiles is not /etc/jitgate/jitgated.toml"
echo "contents: $(wc -l <<<"$contents") paths; $(grep '^Depends:' <<<"$control")"

echo "== package: install"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null
cleanup() {
  if dpkg-query -W jitgate >/dev/null 2>&1; then
    JITGATE_PURGE_STATE=yes dpkg --purge jitgate >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
/usr/sbin/jitgated --version
getent passwd jitgate | grep -q ':/var/lib/jitgate:/usr/sbin/nologin$' || fail "no jitgate system user"
[ "$(stat -c '%U:%G %a' /var/lib/jitgate)" = "jitgate:jitgate 700" ] || fail "state dir: $(stat -c '%U:%G %a' /var/lib/jitgate)"
if ls /etc/systemd/system/*.wants/jitgated.service 2>/dev/null; then fail "the package enabled the unit"; fi
# (The module's default cutoff path: packaging/CMakeLists.txt refuses a tree
# not configured for /usr/libexec/jitgate-cutoff.)
/usr/sbin/jitgated --check-config /etc/jitgate/jitgated.toml >"$build/package/effective.toml"
grep -q '^listen = "127.0.0.1:9620"$' "$build/package/effective.toml" || fail "--check-config output"
# Every commented line of the shipped config is the built-in default.
sed -E 's/^#([a-z_]+ = )/\1/' /etc/jitgate/jitgated.toml >"$build/package/uncommented.toml"
chmod 600 "$build/package/uncommented.toml"
/usr/sbin/jitgated --check-config "$build/package/uncommented.toml" | tail -n +2 >"$build/package/a"
tail -n +2 "$build/package/effective.toml" >"$build/package/b"
diff "$build/package/a" "$build/package/b" || fail "the shipped config's commented values are not the defaults"
echo "check-config: $(head -1 "$build/package/effective.toml")"
systemd-analyze verify /usr/lib/systemd/system/jitgated.service
score=$(cd / && systemd-analyze security --offline=yes /usr/lib/systemd/system/jitgated.service 2>/dev/null |
  sed -n 's/.*Overall exposure level for jitgated.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze verify: ok; security: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' || fail "exposure $score is over 2.0"
for page in man8/jitgated.8 man1/jitctl.1 man8/pam_jitgate.8; do
  warnings=$(MANWIDTH=80 man --warnings -l "/usr/share/man/$page.gz" 2>&1 >/dev/null || true)
  [ -z "$warnings" ] || fail "$page: $warnings"
done

echo "== package: remove, purge"
dpkg --remove jitgate >/dev/null
[ -f /etc/jitgate/jitgated.toml ] || fail "remove dropped the conffile"
[ -d /var/lib/jitgate ] || fail "remove dropped the state"
dpkg --purge jitgate 2>"$build/package/purge.err" >/dev/null
[ -d /var/lib/jitgate ] && getent passwd jitgate >/dev/null || fail "purge without JITGATE_PURGE_STATE removed the state"
grep -q "kept /var/lib/jitgate" "$build/package/purge.err" || fail "purge did not say it kept the state"
# Again, asking for the state to go: nothing may be left.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null
dpkg --remove jitgate >/dev/null
JITGATE_PURGE_STATE=yes dpkg --purge jitgate >/dev/null 2>"$build/package/purge.err" ||
  fail "purge: $(cat "$build/package/purge.err")"
trap - EXIT
left=""
while read -r path; do
  [ -z "$path" ] || [ "${path: -1}" = / ] && continue
  [ -e "$path" ] && left+=" $path"
done <<<"$contents"
for path in /etc/jitgate /var/lib/jitgate /usr/share/doc/jitgate /usr/libexec/jitgate-cutoff; do
  [ -e "$path" ] && left+=" $path"
done
getent passwd jitgate >/dev/null && left+=" user:jitgate"
getent group jitgate >/dev/null && left+=" group:jitgate"
[ -z "$left" ] || fail "left behind:$left"
echo "package: installed, ran, removed and purged; nothing left behind"
