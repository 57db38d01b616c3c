# Shared by the shell tests: TAP helpers and how to run the unimo2 program
# (directly, or under qemu-aarch64 in the NEON cross build).  Source it.
top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
U2_BIN="$top_builddir/unimo2"
U2_RUN=${U2_EXEC:-}
if ! $U2_RUN "$U2_BIN" --version >/dev/null 2>&1; then
  if command -v qemu-aarch64 >/dev/null 2>&1 && qemu-aarch64 "$U2_BIN" --version >/dev/null 2>&1; then
    U2_RUN=qemu-aarch64
  else
    echo "1..0 # SKIP $U2_BIN cannot run here"
    exit 0
  fi
fi
# u2 ARGS...: run the program
u2() { $U2_RUN "$U2_BIN" "$@"; }
tap_n=0
tap_failed=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=1; echo "not ok $tap_n - $1"; }
# check DESCRIPTION 'shell condition'
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - # SKIP $1"; }
tap_done() { echo "1..$tap_n"; exit $tap_failed; }
u2_tmpdir() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/u2-test.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
}
