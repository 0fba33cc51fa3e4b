#!/bin/bash
# vfiomig-ctl on the fake kernel: every command, exit codes, --json output
# parsed by python3, the stream file (0600, no overwrite, no symlink, a
# flipped byte and a truncated file refused with the destination RUNNING),
# data carried intact by save/load and migrate.
#
# The real binary runs with LD_PRELOAD=tests/fake/.libs/libfakepreload.so,
# which builds a fake machine per process (tests/fake/preload.c): what one
# run saves, a later run loads into a fresh machine.  Device contents and
# states are checked through VFIOMIG_FAKE_DUMP, written at exit after the
# devices were closed: mtty keeps its state across close (contract 7), so
# its dumped state is the state the command left; a vfio-pci variant is
# RUNNING again after close, so for those the command's --json tells.
#
# Run from the build directory (make check does).  VFIOMIG_TEST_VALGRIND=1
# runs every command under valgrind (errors and leaks fail the test).
set -u

builddir=$(pwd)
ctl=$builddir/tools/vfiomig-ctl
pre=$builddir/tests/fake/.libs/libfakepreload.so
srcdir=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
if [ ! -x "$ctl" ] || [ ! -e "$pre" ]; then
	echo "SKIP: $ctl or $pre not built"
	exit 77
fi
command -v python3 >/dev/null || {
	echo "SKIP: python3 needed to parse --json output"
	exit 77
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

MTTY1=83b8f4f2-509f-382f-3c1e-e6bfe0fa1001
MTTY2=83b8f4f2-509f-382f-3c1e-e6bfe0fa1002
MTTY2B=83b8f4f2-509f-382f-3c1e-e6bfe0fa1003
GSRC=0000:3b:00.1
GDST=0000:3b:00.2
NOMIG=0000:3c:00.0

vg=()
if [ "${VFIOMIG_TEST_VALGRIND:-0}" = 1 ]; then
	vg=("$builddir/libtool" --mode=execute valgrind -q --error-exitcode=97
		--leak-check=full --errors-for-leak-kinds=definite,indirect)
fi

machine=mtty,generic,nomig
# run ARGS...: the CLI on the fake; sets rc, output in $tmp/out, $tmp/err.
run() {
	rm -f "$tmp/dump"
	VFIOMIG_FAKE=$machine VFIOMIG_FAKE_STRICT=1 VFIOMIG_FAKE_DUMP=$tmp/dump \
		LD_PRELOAD=$pre "${vg[@]}" "$ctl" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}
# run_pipe FILE ARGS...: same with stdin a pipe fed from FILE.
run_pipe() {
	local in=$1
	shift
	rm -f "$tmp/dump"
	cat "$in" | VFIOMIG_FAKE=$machine VFIOMIG_FAKE_STRICT=1 VFIOMIG_FAKE_DUMP=$tmp/dump \
		LD_PRELOAD=$pre "${vg[@]}" "$ctl" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

ok() {
	pass=$((pass + 1))
	echo "PASS: $*"
}
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*"
	sed 's/^/  stdout: /' "$tmp/out" | head -n 20
	sed 's/^/  stderr: /' "$tmp/err" | head -n 20
}
# expect RC WHAT: the last run's exit status.
expect() {
	if [ "$rc" = "$1" ]; then ok "$2"; else bad "$2 (exit $rc, expected $1)"; fi
}
# json WHAT: the last run's stdout is valid JSON.
json() {
	if python3 -m json.tool <"$tmp/out" >/dev/null 2>"$tmp/jerr"; then
		ok "$1: --json parses"
	else
		bad "$1: --json does not parse: $(cat "$tmp/jerr")"
	fi
}
# grep_out / grep_err PATTERN WHAT
grep_out() { if grep -q -e "$1" "$tmp/out"; then ok "$2"; else bad "$2 (no '$1' on stdout)"; fi; }
grep_err() { if grep -q -e "$1" "$tmp/err"; then ok "$2"; else bad "$2 (no '$1' on stderr)"; fi; }
# dump_field DEVICE FIELD: from the last run's dump.
dump_field() {
	sed -n "s/^$1 .*\\b$2=\\([^ ]*\\).*/\\1/p" "$tmp/dump" 2>/dev/null | head -n 1
}
# pyq EXPR: evaluate EXPR on the last stdout parsed as JSON (as `d`).
pyq() {
	python3 -c "import json,sys; d=json.load(open('$tmp/out')); print($1)" 2>/dev/null
}

echo "== help, version, usage errors"
run --help
expect 0 "--help"
grep_out "conform" "--help lists the commands"
run --version
expect 0 "--version"
grep_out "libvfiomig" "--version names the library"
for c in list probe state save load migrate dirty conform devlink region; do
	run "$c" --help
	expect 0 "$c --help"
	grep_out "^usage: vfiomig-ctl $c" "$c --help shows its usage"
done
run
expect 2 "no command"
run bogus
expect 2 "unknown command"
run list --bogus
expect 2 "unknown option"
run list extra
expect 2 "list with an argument"
run state
expect 2 "state without a device"
run state $MTTY2 sideways
expect 2 "state with an unknown state name"
run state $MTTY2 --path
expect 2 "--path without a state"
run save $MTTY2 --max-rounds 0 -o "$tmp/x"
expect 2 "--max-rounds 0"
run save $MTTY2 -o - --json
expect 2 "save --json to stdout"
run region $MTTY2 0 7 300
expect 2 "region byte out of range"
run migrate $MTTY2 $MTTY2
expect 2 "migrate a device into itself"
run dirty $MTTY2 start --page-size 3000
expect 2 "dirty with a page size that is not a power of two"
run dirty start
expect 2 "dirty without a device"
run devlink --help
if grep -q "^Not available" "$tmp/out"; then
	run devlink pci/0000:06:00.0/1
	expect 1 "devlink without libnl: fails"
	grep_err "not available" "devlink without libnl says so"
else
	run devlink
	expect 2 "devlink without a port"
	run devlink pci/0000:06:00.0
	expect 2 "devlink port without an index"
	run devlink pci/0000:06:00.0/x
	expect 2 "devlink port with a bad index"
	run devlink pci/0000:06:00.0/1 migratable maybe
	expect 2 "devlink migratable with a bad value"
	# The host kernel: no such port (or no devlink at all): a clean error.
	run devlink pci/0000:ff:1f.7/4095
	expect 1 "devlink of a port the host does not have"
	grep_err "^vfiomig-ctl: devlink: " "devlink reports the kernel's answer"
	run devlink pci/0000:ff:1f.7/4095 migratable off
	expect 1 "devlink set on a port the host does not have"
fi
run conform
expect 2 "conform without a device"

echo "== list, probe, state"
run list
expect 0 "list"
grep_out "$MTTY2 .*mtty-2 .*stop-copy,p2p,pre-copy" "list shows mtty-2 with its flags"
grep_out "$NOMIG .*vfio-pci.* -\$" "list shows '-' for a device without migration"
run list --json
expect 0 "list --json"
json "list"
[ "$(pyq "len(d)")" = 6 ] && ok "list --json has 6 devices" || bad "list --json has 6 devices"
# --sysfs-root/--dev-root override the environment the preload exported.
run --sysfs-root "$tmp/nosys" --dev-root "$tmp/nodev" list --json
expect 0 "list with an empty --sysfs-root"
[ "$(pyq "len(d)")" = 0 ] && ok "--sysfs-root overrides VFIOMIG_SYSFS_ROOT" || bad "--sysfs-root overrides VFIOMIG_SYSFS_ROOT"
run probe $MTTY2 --sysfs-root "$tmp/nosys"
expect 1 "probe under an empty --sysfs-root (option after the command)"
run -vv state $MTTY2 stop
expect 0 "-vv state stop"
grep_err "^libvfiomig: .*:[0-9]* " "-vv shows the library's debug log with file:line"
run probe $MTTY2
expect 0 "probe mtty-2"
grep_out "MIG_DATA_SIZE *96 bytes" "probe shows MIG_DATA_SIZE 96"
run probe $MTTY2 --json
expect 0 "probe mtty-2 --json"
json "probe"
[ "$(pyq "d['state']")" = running ] && ok "probe: state running" || bad "probe: state running"
run probe $GSRC --json --iommu type1
expect 0 "probe generic --iommu type1"
json "probe type1"
[ "$(pyq "d['iommu_path']")" = type1 ] && ok "probe: type1 path" || bad "probe: type1 path"
run probe 0000:99:00.0
expect 1 "probe of a missing device"
run state $MTTY2
expect 0 "state"
grep_out "^running$" "state prints running"
run state $MTTY2 --json
json "state"
run state $MTTY2 stop
expect 0 "state stop"
grep_out "running -> stop" "state set prints the move"
run state $MTTY2 stop-copy --json
expect 0 "state stop-copy --json"
json "state set"
run state $MTTY2 STOP_COPY --path
expect 0 "state --path"
grep_out "running -> running-p2p -> stop -> stop-copy \[data fd\]" "state --path shows the arcs"
run state $MTTY2 pre-copy --path --json
json "state --path"
run state $NOMIG
expect 1 "state of a device without migration"

echo "== region"
run region $MTTY2 0 7 0x5a
expect 0 "region write"
s=$(dump_field $MTTY2 hex)
# mtty data: 24-byte header, then port 0's uart_reg[7] (SCR) at 24 + 7.
[ "${s:62:2}" = 5a ] && ok "region write reached SCR of port 0" || bad "region write reached SCR (dump: $s)"
run region $MTTY2 1 7 --json
expect 0 "region read --json"
json "region"
[ "$(pyq "d['value']")" = 0 ] && ok "region read of a fresh register" || bad "region read of a fresh register"

echo "== save"
f=$tmp/gen.vfm
run save $GSRC -o "$f" --json
expect 0 "save generic to a file"
json "save"
src_fnv=$(dump_field $GSRC fnv)
[ "$(pyq "d['source_state']")" = stop ] && ok "source in STOP after save" || bad "source in STOP after save"
[ "$(stat -c %a "$f")" = 600 ] && ok "stream file mode 0600" || bad "stream file mode $(stat -c %a "$f")"
[ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' ')" = 8956464d ] && ok "stream magic" || bad "stream magic"
[ "$(pyq "d['precopy_rounds'] >= 1 and d['precopy_bytes'] > 0")" = True ] &&
	ok "save went through precopy" || bad "save went through precopy"
umask 000
run save $GSRC -o "$tmp/umask.vfm" --no-precopy --run
umask 022
expect 0 "save --no-precopy --run"
[ "$(stat -c %a "$tmp/umask.vfm")" = 600 ] && ok "mode 0600 whatever the umask" || bad "mode 0600 with umask 000"
grep_out "from $GSRC" "save --run summary"
run save $GSRC -o "$f"
expect 1 "save refuses an existing file"
grep_err "exists; use --force" "the refusal says why"
echo precious >"$tmp/target"
ln -s "$tmp/target" "$tmp/link"
run save $GSRC -o "$tmp/link"
expect 1 "save refuses a symlink"
[ "$(cat "$tmp/target")" = precious ] && ok "symlink target untouched" || bad "symlink target untouched"
run save $GSRC -o "$tmp/link" --force
expect 0 "save --force over a symlink"
[ ! -L "$tmp/link" ] && [ -f "$tmp/link" ] && [ "$(cat "$tmp/target")" = precious ] &&
	ok "--force replaced the link, not its target" || bad "--force replaced the link, not its target"
run save $GSRC -o "$f" --force
expect 0 "save --force over a file"
# run() sends stdout to $tmp/out: that is the stream.
run save $GSRC
expect 0 "save to stdout"
cp "$tmp/out" "$tmp/stdout.vfm"
run load --verify-only -i "$tmp/stdout.vfm"
expect 0 "the stream written to stdout verifies"
# A reader that goes away: EPIPE (SIGPIPE ignored), the source restored.
VFIOMIG_FAKE=$machine VFIOMIG_FAKE_STRICT=1 LD_PRELOAD=$pre "${vg[@]}" "$ctl" save $GSRC \
	2>"$tmp/err" | head -c 100 >/dev/null
rc=${PIPESTATUS[0]}
: >"$tmp/out"
expect 1 "save into a pipe closed early fails cleanly"
grep_err "Broken pipe" "the failure names EPIPE"
grep_err "back in running" "the source is put back"
# A device that keeps dirtying state: several rounds, --max-rounds obeyed,
# and the data still arrives whole.
machine=mtty,generic,dirtying
run save $GSRC -o "$tmp/dirtying.vfm" --max-rounds 3 --json
expect 0 "save of a dirtying device with --max-rounds 3"
[ "$(pyq "d['precopy_rounds']")" = 3 ] && ok "3 precopy rounds" || bad "3 precopy rounds ($(pyq "d['precopy_rounds']"))"
dirtying_fnv=$(dump_field $GSRC fnv)
run save $GSRC -o "$tmp/dirtying2.vfm" --json
expect 0 "save of a dirtying device, the library's policy decides"
[ "$(pyq "d['precopy_rounds'] >= 2")" = True ] && ok "the policy ran several rounds" || bad "the policy ran several rounds"
run load $GDST -i "$tmp/dirtying.vfm"
expect 0 "load the dirtying device's stream"
[ "$(dump_field $GDST fnv)" = "$dirtying_fnv" ] && ok "the dirtied state arrived whole" ||
	bad "the dirtied state arrived whole"
run migrate $GSRC $GDST --max-rounds 5 --json
expect 0 "migrate a dirtying device"
[ "$(dump_field $GDST fnv)" = "$(dump_field $GSRC fnv)" ] && ok "migrate of a dirtying device carries the data" ||
	bad "migrate of a dirtying device carries the data"
machine=mtty,generic,nomig
run save $NOMIG -o "$tmp/nomig.vfm"
expect 1 "save of a device without migration"
[ ! -e "$tmp/nomig.vfm" ] && ok "no file left by a failed save" || bad "no file left by a failed save"
run save $MTTY2 -o "$tmp/mtty.vfm" --progress
expect 0 "save mtty-2 --progress"
grep_err "pre-copy" "--progress prints precopy lines without a terminal"

echo "== load"
run load --verify-only -i "$f" --json
expect 0 "load --verify-only --json"
json "load --verify-only"
[ "$(pyq "d['bytes']")" -gt 4000000 ] 2>/dev/null && ok "verify counts the data" || bad "verify counts the data"
run load $GDST -i "$f" --json
expect 0 "load generic from a file"
json "load"
[ "$(dump_field $GDST fnv)" = "$src_fnv" ] && ok "destination holds the source's data" ||
	bad "destination holds the source's data ($(dump_field $GDST fnv) != $src_fnv)"
[ "$(pyq "d['state']")" = stop ] && ok "destination in STOP after load" || bad "destination in STOP after load"
run_pipe "$f" load $GDST --run
expect 0 "load from a pipe (stdin) --run"
[ "$(dump_field $GDST fnv)" = "$src_fnv" ] && ok "pipe load carries the data" || bad "pipe load carries the data"
grep_out "is running" "destination RUNNING after load --run"

# flip FILE OFFSET: flip one bit of the byte at OFFSET.
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(((b ^ 0x10) & 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
# Damaged files, loaded into mtty-2b: mtty keeps its state across close,
# so the dump shows the state the load left.  The mtty-2 stream went
# through precopy: header 256, record 32 + 24 precopy bytes, record 32 +
# 72 stop-copy bytes, end 32.
m=$tmp/mtty.vfm
[ "$(stat -c %s "$m")" = 448 ] && ok "mtty-2 stream file is 448 bytes" || bad "mtty-2 stream file size $(stat -c %s "$m")"
for what in data header record end; do
	case $what in
	data) off=350 ;; header) off=70 ;; record) off=320 ;; end) off=430 ;;
	esac
	cp "$m" "$tmp/flip.vfm"
	flip "$tmp/flip.vfm" $off
	run load $MTTY2B -i "$tmp/flip.vfm"
	expect 1 "load refuses a flipped byte in the $what"
	grep_err "CRC mismatch\|damaged" "flipped $what: the refusal names the damage"
	grep_err "was not touched" "flipped $what: the device was not touched"
	[ "$(dump_field $MTTY2B state)" = 2 ] && ok "flipped $what: destination still RUNNING" ||
		bad "flipped $what: destination still RUNNING (state $(dump_field $MTTY2B state))"
done
cp "$m" "$tmp/flip.vfm"
flip "$tmp/flip.vfm" 350
run_pipe "$tmp/flip.vfm" load $MTTY2B
expect 1 "load from a pipe refuses a flipped byte"
grep_err "CRC mismatch" "pipe: the refusal names the CRC"
grep_err "was reset and is now running" "pipe: the device was reset"
[ "$(dump_field $MTTY2B state)" = 2 ] && ok "pipe: destination RUNNING after the reset" ||
	bad "pipe: destination RUNNING after the reset (state $(dump_field $MTTY2B state))"
for len in 447 400 300 100 10 0; do
	head -c $len "$m" >"$tmp/short.vfm"
	run load $MTTY2B -i "$tmp/short.vfm"
	expect 1 "load refuses a file truncated to $len bytes"
	grep_err "truncated\|empty" "truncated to $len: the refusal says so"
	[ "$(dump_field $MTTY2B state)" = 2 ] && ok "truncated to $len: destination still RUNNING" ||
		bad "truncated to $len: destination still RUNNING"
done
head -c 447 "$m" >"$tmp/short.vfm"
run_pipe "$tmp/short.vfm" load $MTTY2B
expect 1 "load from a pipe refuses a truncated stream"
grep_err "truncated" "truncated pipe: the refusal says so"
grep_err "was reset" "truncated pipe: the device was reset"
[ "$(dump_field $MTTY2B state)" = 2 ] && ok "truncated pipe: destination RUNNING" || bad "truncated pipe: destination RUNNING"
# The generic device's multi-chunk stream: damage in the last chunk, after
# megabytes went into the device.
size=$(stat -c %s "$f")
cp "$f" "$tmp/gflip.vfm"
flip "$tmp/gflip.vfm" $((size - 1000))
run load $GDST -i "$tmp/gflip.vfm"
expect 1 "load refuses a flipped byte in a multi-MB file"
grep_err "chunk 5" "the refusal names the chunk"
run_pipe "$tmp/gflip.vfm" load $GDST
expect 1 "pipe: flipped byte in the last chunk refused"
grep_err "was reset" "pipe: reset after megabytes were loaded"
run load $GDST -i "$tmp/mtty.vfm"
expect 1 "load refuses a stream from another kind of device"
grep_err "use --force" "the refusal offers --force"
run load $MTTY2B -i "$tmp/mtty.vfm"
expect 0 "load an mtty-2 stream into the other mtty-2"
run load $MTTY2B -i "$tmp/nonexistent.vfm"
expect 1 "load of a missing file"

echo "== migrate"
run migrate $GSRC $GDST --json
expect 0 "migrate generic"
json "migrate"
[ "$(dump_field $GDST fnv)" = "$(dump_field $GSRC fnv)" ] && ok "migrate carries the data" || bad "migrate carries the data"
[ "$(pyq "d['source_state']")" = stop ] && ok "migrate: source STOP" || bad "migrate: source STOP"
run migrate $MTTY2 $MTTY2B --progress
expect 0 "migrate mtty-2 --progress"
grep_err "pre-copy" "migrate --progress shows precopy"
[ "$(dump_field $MTTY2B fnv)" = "$(dump_field $MTTY2 fnv)" ] && ok "migrate mtty carries the registers" || bad "migrate mtty carries the registers"
run migrate $MTTY2 $MTTY1
expect 1 "migrate refuses another mdev type"
run migrate $MTTY2 $GDST --no-precopy
expect 1 "migrate refuses another driver"

echo "== dirty"
run dirty $MTTY2 start report stop --range 0:1M --json
expect 0 "dirty start report stop"
json "dirty"
run dirty $GSRC --range 0x100000:2M --page-size 4096
expect 0 "dirty with the default actions"

echo "== conform"
run conform $MTTY2 --peer $MTTY2B
expect 0 "conform mtty-2 with a peer"
grep_out "^PASS" "conform prints PASS lines"
if grep -q "^FAIL" "$tmp/out"; then bad "conform has no FAIL"; else ok "conform has no FAIL"; fi
run conform $MTTY2 --json
json "conform"
grep_out "needs a second device" "round trip skipped without --peer"
run conform $GSRC --peer $GDST
expect 0 "conform generic (ENOMSG driver) with a peer"

# The other migration flag sets: what does not apply is skipped, and the
# paths are the kernel's for each set (contract 4.4).
machine=flagsets
for dev in 0000:3d:00.1 0000:3d:00.3 0000:3d:00.5; do
	run conform $dev --json
	expect 0 "conform $dev ($(pyq "d['driver']"))"
	json "conform $dev"
done
run conform 0000:3d:00.1
grep_out "^SKIP precopy-info .*no PRE_COPY" "STOP_COPY only: precopy checks skipped"
run state 0000:3d:00.1 running-p2p
expect 1 "running-p2p refused without P2P"
run state 0000:3d:00.3 stop --path
grep_out "running -> running-p2p -> stop" "P2P device: the path goes through running-p2p"
run save 0000:3d:00.5 -o "$tmp/hisi.vfm" --json
expect 0 "save from a STOP_COPY|PRE_COPY device"
[ "$(pyq "d['precopy_rounds'] >= 1")" = True ] && ok "precopy without P2P" || bad "precopy without P2P"
machine=mtty,generic,nomig

echo "== completion"
(
	_init_completion() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
	_filedir() { :; }
	# shellcheck source=/dev/null
	. "$srcdir/tools/vfiomig-ctl.bash"
	COMP_WORDS=(vfiomig-ctl mi); COMP_CWORD=1
	_vfiomig_ctl
	[ "${COMPREPLY[*]}" = migrate ] || exit 1
	COMP_WORDS=(vfiomig-ctl state dev st); COMP_CWORD=3
	_vfiomig_ctl
	[ "${COMPREPLY[*]}" = "stop stop-copy" ] || exit 2
	COMP_WORDS=(vfiomig-ctl save dev --no); COMP_CWORD=3
	_vfiomig_ctl
	[ "${COMPREPLY[*]}" = "--no-precopy" ] || exit 3
) && ok "bash completion" || bad "bash completion (case $?)"

echo "== test-cli.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
