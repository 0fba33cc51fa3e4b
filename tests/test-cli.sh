#!/bin/bash
# vfiomig-ctl on the fake kernel: every command, exit codes, --json output
# parsed by python3, the stream file (0600, no overwrite, no symlink, a
# flipped byte and a truncated file refused with the destination RUNNING),
# data carried intact by save/load and migrate; then an adversarial
# section (issue 9): closed standard fds, input at an offset, --force on
# device nodes, FIFOs and sockets, failed saves (file size limit, full
# disk, SIGPIPE) leaving neither a temporary nor a clobbered target, and
# escape sequences in stream headers and sysfs names; device sets (issue
# 10): sets of two and three in state, save, load and migrate, the P2P
# barrier in the library's log, mismatched and damaged files refused
# before any device moves, a 0.1 (format 1.0) file, a failing member
# rolling the whole set back with exit status 3; migration v1 devices
# (issue 14): probe and conform naming the protocol, save, load and
# migrate carrying the state, a v1 + v2 set, the mig-v1 dirty backend.
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
MTTY2C=83b8f4f2-509f-382f-3c1e-e6bfe0fa1004
MTTY2D=83b8f4f2-509f-382f-3c1e-e6bfe0fa1005
MTTY2E=83b8f4f2-509f-382f-3c1e-e6bfe0fa1006
MTTY2F=83b8f4f2-509f-382f-3c1e-e6bfe0fa1007
GSRC=0000:3b:00.1
GDST=0000:3b:00.2
NOMIG=0000:3c:00.0

vg=()
if [ "${VFIOMIG_TEST_VALGRIND:-0}" = 1 ]; then
	vg=("$builddir/libtool" --mode=execute valgrind -q --error-exitcode=97
		--leak-check=full --errors-for-leak-kinds=definite,indirect)
fi

machine=mtty,generic,nomig
# failarc: NAME:FROM:TO:ERRNO, a member's arc that fails (tests/fake/preload.c)
failarc=
# run ARGS...: the CLI on the fake; sets rc, output in $tmp/out, $tmp/err.
run() {
	rm -f "$tmp/dump"
	VFIOMIG_FAKE=$machine VFIOMIG_FAKE_STRICT=1 VFIOMIG_FAKE_DUMP=$tmp/dump \
		VFIOMIG_FAKE_FAIL_ARC=$failarc \
		LD_PRELOAD=$pre "${vg[@]}" "$ctl" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}
# run_pipe FILE ARGS...: same with stdin a pipe fed from FILE.
run_pipe() {
	local in=$1
	shift
	rm -f "$tmp/dump"
	cat "$in" | VFIOMIG_FAKE=$machine VFIOMIG_FAKE_STRICT=1 VFIOMIG_FAKE_DUMP=$tmp/dump \
		VFIOMIG_FAKE_FAIL_ARC=$failarc \
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
# strtoull() skips blanks and negates: " -9223372036854775808" was 2^63
for n in " -9223372036854775808" "	-1" " 4096" "+4096" ""; do
	run dirty $MTTY2 start --page-size "$n"
	expect 2 "dirty --page-size '$n' is not a number"
done
run save $MTTY2 --max-rounds " -1" -o "$tmp/x"
expect 2 "--max-rounds ' -1' is not a number"
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
[ "$(pyq "len(d)")" = 10 ] && ok "list --json has 10 devices" || bad "list --json has 10 devices"
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
run region $MTTY2
expect 0 "region list"
grep_out "^7 *0xff *0x70000000000 *rw-- " "region list: mtty config space, offset from the kernel"
grep_out "^3 *0x0 " "region list: the empty regions too"
run region $MTTY2 --json
expect 0 "region list --json"
json "region list"
[ "$(pyq "(d['num_regions'], [r['size'] for r in d['regions']], d['regions'][1]['offset'], d['regions'][0]['flags'], d['regions'][0]['type'], d['regions'][0]['sparse_areas'])")" = \
	"(9, [8, 8, 0, 0, 0, 0, 0, 255, 0], 1099511627776, ['read', 'write'], None, None)" ] &&
	ok "region list --json: mtty-2's sizes, offsets, flags" || bad "region list --json: mtty-2's regions"
run region $MTTY1 1 --json
expect 0 "region INDEX --json"
[ "$(pyq "(len(d['regions']), d['regions'][0]['index'], d['regions'][0]['size'])")" = "(1, 1, 0)" ] &&
	ok "region INDEX: mtty-1 has no BAR1" || bad "region INDEX: mtty-1 has no BAR1"
run region $MTTY2 9
expect 1 "region list of an index past num_regions"
grep_err "has no region 9 (it has 9: 0..8)" "region: no region 9, said so"
run region $MTTY2 9 0
expect 1 "region read past num_regions"
grep_err "has no region 9" "region read: no region 9, said so"
# mtty's regions 2-6 are empty: nothing reaches the driver (2-5 would be a
# kernel out-of-bounds access).
for i in 2 5 6; do
	run region $MTTY2 $i 0 0x11
	expect 1 "region write to empty region $i refused"
done
grep_err "region 6 of $MTTY2 is empty (size 0): nothing to write" "region: an empty region, said so"
run region $MTTY1 1 7
expect 1 "region read of mtty-1's missing BAR1"
run region $MTTY2 0 8
expect 1 "region read past the BAR"
grep_err "offset 0x8 is outside region 0 (size 0x8)" "region: an offset outside, said so"
run region $MTTY2 7 0xff
expect 1 "region read past mtty's 0xff bytes of config space"
run region $MTTY2 7 0 --json
expect 0 "region read of config space"
[ "$(pyq "d['value']")" = 72 ] && ok "region read: mtty's vendor id low byte (0x48)" || bad "region read of config space"
run region $GSRC
expect 0 "region list of a vfio-pci function"
grep_out "^8 .*refused: " "region list: vfio-pci refuses VGA index 8 (no VGA)"
run region $GSRC 0 0
expect 1 "region read of an empty BAR of a vfio-pci function"

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
expect 3 "save into a pipe closed early fails cleanly, rolled back (exit 3)"
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
# through precopy: header 256, the device's section 256, record 32 + 24
# precopy bytes, record 32 + 72 stop-copy bytes, end 32.
m=$tmp/mtty.vfm
[ "$(stat -c %s "$m")" = 704 ] && ok "mtty-2 stream file is 704 bytes" || bad "mtty-2 stream file size $(stat -c %s "$m")"
for what in data header section record end; do
	case $what in
	data) off=610 ;; header) off=40 ;; section) off=330 ;; record) off=580 ;; end) off=690 ;;
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
flip "$tmp/flip.vfm" 610
run_pipe "$tmp/flip.vfm" load $MTTY2B
expect 3 "load from a pipe refuses a flipped byte (reset: exit 3)"
grep_err "CRC mismatch" "pipe: the refusal names the CRC"
grep_err "was reset and is now running" "pipe: the device was reset"
[ "$(dump_field $MTTY2B state)" = 2 ] && ok "pipe: destination RUNNING after the reset" ||
	bad "pipe: destination RUNNING after the reset (state $(dump_field $MTTY2B state))"
for len in 703 650 560 400 300 100 10 0; do
	head -c $len "$m" >"$tmp/short.vfm"
	run load $MTTY2B -i "$tmp/short.vfm"
	expect 1 "load refuses a file truncated to $len bytes"
	grep_err "truncated\|empty" "truncated to $len: the refusal says so"
	[ "$(dump_field $MTTY2B state)" = 2 ] && ok "truncated to $len: destination still RUNNING" ||
		bad "truncated to $len: destination still RUNNING"
done
head -c 703 "$m" >"$tmp/short.vfm"
run_pipe "$tmp/short.vfm" load $MTTY2B
expect 3 "load from a pipe refuses a truncated stream (reset: exit 3)"
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
expect 3 "pipe: flipped byte in the last chunk refused (reset: exit 3)"
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

echo "== device sets"
# Migration states in the dump: 1 STOP, 2 RUNNING, 4 RESUMING, 5
# RUNNING_P2P, 7 PRE_COPY_P2P, 3 STOP_COPY.
# states DEV... : their states in the last dump, space-separated.
states() {
	local out= d
	for d in "$@"; do out="$out $(dump_field "$d" state)"; done
	echo "${out# }"
}
# is_states WHAT STATE DEV...: every DEV in STATE.
is_states() {
	local what=$1 want=$2 got exp= d
	shift 2
	for d in "$@"; do exp="$exp $want"; done
	got=$(states "$@")
	if [ "$got" = "${exp# }" ]; then ok "$what"; else bad "$what (states $got, expected ${exp# })"; fi
}
# barrier FROM1 TO1 FROM2 TO2: in the last -vv log, every member's
# FROM1->TO1 came before any member's FROM2->TO2.
barrier() {
	local last first
	last=$(grep -n ": $1->$2 " "$tmp/err" | tail -n 1 | cut -d: -f1)
	first=$(grep -n ": $3->$4 " "$tmp/err" | head -n 1 | cut -d: -f1)
	if [ -n "$last" ] && [ -n "$first" ] && [ "$last" -lt "$first" ]; then
		ok "barrier: every $1->$2 before any $3->$4"
	else
		bad "barrier: every $1->$2 before any $3->$4 (last at line '$last', first at '$first')"
	fi
}
S2=$MTTY2,$MTTY2B
D2=$MTTY2C,$MTTY2D
run migrate $S2 $MTTY2C
expect 2 "migrate: lists of different lengths are a usage error"
grep_err "pair by position" "the refusal says the lists pair"
run migrate $S2 $MTTY2C,$MTTY2
expect 2 "migrate: a device on both sides is refused"
run save $MTTY2,$MTTY2B,$MTTY2 -o "$tmp/x"
expect 2 "save: the same device twice is refused"
grep_err "named twice" "the refusal names the device"
run state "$MTTY2,,$MTTY2B" stop
expect 2 "state: an empty name in the list"
run state $S2 stop --combined
expect 2 "state: --combined moves one device only"
run state $S2
expect 0 "state of a set"
grep_out "^$MTTY2B running\$" "state of a set: a line per member"
run state $S2 stop --json
expect 0 "state: a set of two to stop"
json "state of a set"
is_states "state: both members in STOP" 1 $MTTY2 $MTTY2B
[ "$(pyq "len(d['devices'])")" = 2 ] && ok "state --json: both members" || bad "state --json: both members"
run -vv state $MTTY2,$MTTY2B,$MTTY2C stop
expect 0 "state: a set of three to stop"
barrier running running-p2p running-p2p stop
run state $S2 pre-copy-p2p --path
expect 0 "state --path of a set"
grep_out "^$MTTY2B: running -> " "--path: a line per member"
# A failing member: MTTY2B refuses RUNNING_P2P -> STOP (EIO).
failarc=$MTTY2B:5:1:5
run state $S2 stop
expect 3 "state: a failing member rolls the set back (exit 3)"
is_states "state: both members back in RUNNING" 2 $MTTY2 $MTTY2B
grep_err "$MTTY2B (member 1): running-p2p -> stop failed" "the failing member and its arc are named"
run state $S2 stop --recover stay --json
expect 4 "state --recover stay: a member left where it stopped (exit 4)"
json "state of a failed set"
[ "$(pyq "d['failed_member']")" = 1 ] && ok "state --json: failed_member 1" || bad "state --json: failed_member 1"
failarc=
run save $MTTY2,$NOMIG -o "$tmp/x"
expect 1 "save: a member without migration refused before anything moves"
is_states "save refused: the other member untouched" 2 $MTTY2
machine=mtty,flagsets
run state $MTTY2,0000:3d:00.5 stop
expect 1 "state: a member without P2P refused in a set"
grep_err "allow-no-p2p" "the refusal names --allow-no-p2p"
run state $MTTY2,0000:3d:00.5 stop --allow-no-p2p --json
expect 0 "state --allow-no-p2p: the set stops"
[ "$(pyq "[x['state'] for x in d['devices']]")" = "['stop', 'stop']" ] && ok "--allow-no-p2p: both in STOP" ||
	bad "--allow-no-p2p: both in STOP"
machine=mtty,generic,nomig

# Two devices migrated as a set: generic (seeded state) and mtty.
run migrate $GSRC,$MTTY2 $GDST,$MTTY2C --progress --json
expect 0 "migrate a set of two"
json "migrate a set"
[ "$(dump_field $GDST fnv)" = "$src_fnv" ] && ok "set of two: the generic member's data arrived" ||
	bad "set of two: the generic member's data arrived"
[ "$(dump_field $MTTY2C fnv)" = "$(dump_field $MTTY2 fnv)" ] && ok "set of two: the mtty member's registers arrived" ||
	bad "set of two: the mtty member's registers arrived"
is_states "set of two: destinations RUNNING" 2 $MTTY2C
is_states "set of two: sources STOP" 1 $MTTY2
grep_err "member 1 $MTTY2: pre-copy" "--progress: a line per member"
grep_err "migrate: .*precopy round 1" "--progress: the total"
[ "$(pyq "len(d['members'])")" = 2 ] && ok "migrate --json: two members" || bad "migrate --json: two members"
S3=$MTTY2,$MTTY2B,$GSRC
D3=$MTTY2C,$MTTY2D,$GDST
run -vv migrate $S3 $D3 --json
expect 0 "migrate a set of three"
[ "$(dump_field $GDST fnv)" = "$src_fnv" ] && ok "set of three: the generic member's data arrived" ||
	bad "set of three: the generic member's data arrived"
is_states "set of three: destinations RUNNING" 2 $MTTY2C $MTTY2D
is_states "set of three: sources STOP" 1 $MTTY2 $MTTY2B
barrier pre-copy pre-copy-p2p pre-copy-p2p stop-copy
barrier stop running-p2p running-p2p running
run migrate $S3 $D3 --no-precopy --stop
expect 0 "migrate a set of three --no-precopy --stop"
is_states "--stop: destinations in STOP" 1 $MTTY2C $MTTY2D
# A dirtying pair: rounds paced across members, the policy over the set.
machine=mtty,generic,dirtying
run migrate $GSRC,$MTTY2 $GDST,$MTTY2B --json --step 64K
expect 0 "migrate a dirtying set in 64 KiB steps"
[ "$(pyq "d['precopy_rounds'] >= 2")" = True ] && ok "the set's policy ran several rounds" || bad "the set's policy ran several rounds"
[ "$(dump_field $GDST fnv)" = "$(dump_field $GSRC fnv)" ] && ok "dirtying set: the data arrived whole" ||
	bad "dirtying set: the data arrived whole"
# A member re-initialising mid-precopy (PRECOPY_INFOv2 REINIT): counted,
# drained again before the switchover, the data whole.
machine=mtty,generic,reinit
run migrate $GSRC,$MTTY2 $GDST,$MTTY2B --json --step 64K
expect 0 "migrate a set whose generic member re-initialises"
[ "$(pyq "[m['reinits'] for m in d['members']]")" = "[1, 0]" ] && ok "REINIT counted for member 0 only" ||
	bad "REINIT counted for member 0 only ($(pyq "[m['reinits'] for m in d['members']]"))"
[ "$(dump_field $GDST fnv)" = "$(dump_field $GSRC fnv)" ] && ok "REINIT: the data arrived whole" ||
	bad "REINIT: the data arrived whole"
run save $GSRC,$MTTY2 -o "$tmp/reinit.vfm"
expect 0 "save a set with a REINIT"
run load $GDST,$MTTY2B -i "$tmp/reinit.vfm"
expect 0 "load it"
[ "$(dump_field $GDST fnv)" = "$src_fnv" ] && ok "REINIT, through a file: the data whole" ||
	bad "REINIT, through a file: the data whole"
machine=mtty,generic,nomig
run save $MTTY2 --step 100 -o "$tmp/x"
expect 2 "--step below 4K is refused"

# Save and load of a set of three through a file and a pipe.
f3=$tmp/set3.vfm
run save $S3 -o "$f3" --json
expect 0 "save a set of three"
[ "$(pyq "[m['device'] for m in d['members']]")" = "['$MTTY2', '$MTTY2B', '$GSRC']" ] &&
	ok "save --json: the members in order" || bad "save --json: the members in order"
is_states "save: the set in STOP" 1 $MTTY2 $MTTY2B
run load --verify-only -i "$f3" --json
expect 0 "verify a set's file"
[ "$(pyq "d['format']")" = 2.0 ] && ok "format 2.0" || bad "format 2.0"
[ "$(pyq "[x['source'] for x in d['devices']]")" = "['$MTTY2', '$MTTY2B', '$GSRC']" ] &&
	ok "verify --json: the three devices" || bad "verify --json: the three devices"
run load --verify-only -i "$f3"
grep_out "3 devices" "verify: the device count"
run load $D3 -i "$f3" --run --json
expect 0 "load a set of three"
[ "$(dump_field $GDST fnv)" = "$src_fnv" ] && ok "load of a set: the generic member's data" ||
	bad "load of a set: the generic member's data"
is_states "load --run: the set RUNNING" 2 $MTTY2C $MTTY2D
run_pipe "$f3" load $D3
expect 0 "load a set of three from a pipe"
[ "$(dump_field $GDST fnv)" = "$src_fnv" ] && ok "pipe load of a set: the data" || bad "pipe load of a set: the data"
is_states "pipe load: the set in STOP" 1 $MTTY2C $MTTY2D
# fresh: the generic destination's state before any load.
run state $GDST
fresh_fnv=$(dump_field $GDST fnv)
run load $MTTY2C,$GDST -i "$f3"
expect 1 "load: a file of three into two devices is refused"
grep_err "holds the streams of 3 devices, but 2 devices were given" "the refusal gives both counts"
is_states "count mismatch: nothing moved" 2 $MTTY2C $GDST
run load $GDST,$MTTY2C,$MTTY2D -i "$f3"
expect 1 "load: sections in another order than the devices are refused"
grep_err "device 0 of $f3 is from a mtty mdev" "the refusal names the section"
is_states "kind mismatch: nothing moved" 2 $GDST $MTTY2C $MTTY2D
# A damaged section (device 2's), a damaged chunk, a truncated file: no
# device moves, from a file; from a pipe the sections are read before any
# device moves, a damaged chunk found later resets every destination.
cp "$f3" "$tmp/sect.vfm"
flip "$tmp/sect.vfm" $((256 + 2 * 256 + 60))
for how in file pipe; do
	if [ $how = file ]; then run load $D3 -i "$tmp/sect.vfm"; else run_pipe "$tmp/sect.vfm" load $D3; fi
	expect 1 "$how: a damaged device section is refused before any device moves"
	grep_err "device section 2: CRC mismatch" "$how: the refusal names section 2"
	grep_err "was not touched" "$how: the devices were not touched"
	is_states "$how, damaged section: every destination RUNNING" 2 $MTTY2C $MTTY2D $GDST
	[ "$(dump_field $GDST fnv)" = "$fresh_fnv" ] && ok "$how, damaged section: nothing loaded" ||
		bad "$how, damaged section: nothing loaded"
done
size=$(stat -c %s "$f3")
cp "$f3" "$tmp/chunk.vfm"
flip "$tmp/chunk.vfm" $((size - 3 * 32 - 500))
run load $D3 -i "$tmp/chunk.vfm"
expect 1 "file: a damaged chunk is refused before any device moves"
is_states "file, damaged chunk: every destination RUNNING" 2 $MTTY2C $MTTY2D $GDST
run_pipe "$tmp/chunk.vfm" load $D3
expect 3 "pipe: a damaged chunk after data moved resets the set (exit 3)"
grep_err "$MTTY2D was reset and is now running" "pipe: every destination reset"
is_states "pipe, damaged chunk: every destination RUNNING" 2 $MTTY2C $MTTY2D $GDST
head -c $((size - 40)) "$f3" >"$tmp/short3.vfm"
run load $D3 -i "$tmp/short3.vfm"
expect 1 "a truncated set file is refused"
grep_err "truncated" "the refusal says truncated"
is_states "truncated: every destination RUNNING" 2 $MTTY2C $MTTY2D $GDST

# Format 1.0, as vfiomig-ctl 0.1 wrote it (an mtty-2 saved with precopy).
base64 -d >"$tmp/v1.vfm" <<'B64'
iVZGTQ0KGgoBAAAAAAEAAAcAAAAAAAAAAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAYAAAAAAAAABn
RQ9rAAAAAG10dHkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAbXR0eS0yAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAA4M2I4ZjRmMi01MDlmLTM4MmYtM2MxZS1lNmJmZTBmYTEwMDIAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAMC4yLjAAAAAAAAAAAAAAADAuMi4wAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAiMv6x0NITksBAAAAAAAAAAAAAAAYAAAAvIGEWgAAAADn
Z1aZTiw+jIkJnX4BAAAAAAAAAAIAAAAAAAAAQ0hOSwAAAAAYAAAAAAAAAEgAAABD2HhrAAAAAMB0
JG0AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAQAABET05FAAAAAGAAAAAAAAAAAgAAAIEyKHIAAAAAtqFbeg==
B64
run load --verify-only -i "$tmp/v1.vfm" --json
expect 0 "a format 1.0 file verifies"
[ "$(pyq "d['format']")" = 1.0 ] && ok "format 1.0" || bad "format 1.0 ($(pyq "d['format']"))"
run load $MTTY2B -i "$tmp/v1.vfm" --run
expect 0 "a format 1.0 file loads onto one device"
is_states "1.0: the device RUNNING" 2 $MTTY2B
[ "$(dump_field $MTTY2B fnv)" = "$(dump_field $MTTY2 fnv)" ] && ok "1.0: the registers loaded" ||
	bad "1.0: the registers loaded"
run_pipe "$tmp/v1.vfm" load $MTTY2B
expect 0 "a format 1.0 file from a pipe"
run load $MTTY2B,$MTTY2C -i "$tmp/v1.vfm"
expect 1 "a format 1.0 file onto two devices is refused"
# The 0.1-era single-device data of the generic device, as 1.0: the 2.0
# header and section replaced by 1.0's header (the records are the same).
run save $GSRC -o "$tmp/g2.vfm"
python3 - "$tmp/g2.vfm" "$tmp/g1.vfm" <<'PY'
import struct, sys
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 if c & 1 else 0)
    return c ^ 0xffffffff
d = open(sys.argv[1], 'rb').read()
s = d[256:512]
h = bytearray(256)
h[0:8] = d[0:8]
h[8:16] = struct.pack('<HHI', 1, 0, 256)
h[16:24] = s[8:16]                # mig_flags
h[24:28] = s[16:20]               # kind
h[32:44] = s[24:36]               # PCI IDs, class
h[48:56] = s[40:48]               # data_size
h[56:64] = d[24:32]               # created
h[64:96] = s[48:80]               # driver
h[96:128] = s[80:112]             # mdev type
h[128:192] = s[112:176]           # device
h[192:224] = d[32:64]             # versions
h[252:256] = struct.pack('<I', crc32c(h[:252]))
open(sys.argv[2], 'wb').write(bytes(h) + d[512:])
PY
run load $GDST -i "$tmp/g1.vfm" --json
expect 0 "a 1.0 file of the generic device loads"
[ "$(dump_field $GDST fnv)" = "$src_fnv" ] && ok "1.0: the generic device's data" || bad "1.0: the generic device's data"

# A failing member rolls the whole set back.
failarc=$MTTY2B:7:3:5 # source 1: PRE_COPY_P2P -> STOP_COPY, EIO
run migrate $S2 $D2
expect 3 "migrate: a failing source member rolls the set back (exit 3)"
grep_err "$MTTY2B: pre-copy-p2p -> stop-copy failed (member 1" "the failing member and arc are named"
grep_err "the sources are back in running" "the sources are back"
is_states "failing source: every source RUNNING" 2 $MTTY2 $MTTY2B
is_states "failing source: every destination reset, RUNNING" 2 $MTTY2C $MTTY2D
run save $S2 -o "$tmp/fail.vfm"
expect 3 "save: a failing member rolls the set back (exit 3)"
[ ! -e "$tmp/fail.vfm" ] && ok "save rolled back: no file" || bad "save rolled back: no file"
is_states "save rolled back: the sources RUNNING" 2 $MTTY2 $MTTY2B
failarc=$MTTY2D:4:1:5 # destination 1 refuses its commit (RESUMING -> STOP)
run migrate $S2 $D2
expect 3 "migrate: a destination refusing its commit rolls the set back"
is_states "refused commit: the sources RUNNING" 2 $MTTY2 $MTTY2B
is_states "refused commit: the destinations reset" 2 $MTTY2C $MTTY2D
failarc=
run save $S2 -o "$tmp/set2.vfm"
expect 0 "save a set of two"
failarc=$MTTY2D:4:1:5
run load $D2 -i "$tmp/set2.vfm"
expect 3 "load: a destination refusing its commit resets the set (exit 3)"
is_states "load, refused commit: the destinations RUNNING" 2 $MTTY2C $MTTY2D
failarc=
# A wrong-type destination (mtty-1 for an mtty-2): its driver refuses the
# data.
run migrate $S2 $MTTY2C,$MTTY1 --force
expect 3 "migrate: a wrong-type destination rolls the set back (exit 3)"
grep_err "$MTTY1 refused" "the refusing destination is named"
is_states "wrong type: the sources RUNNING" 2 $MTTY2 $MTTY2B
is_states "wrong type: the destinations RUNNING" 2 $MTTY2C $MTTY1

echo "== dirty"
run dirty $MTTY2 start report stop --range 0:1M --json
expect 0 "dirty start report stop"
json "dirty"
run dirty $GSRC --range 0x100000:2M --page-size 4096
expect 0 "dirty with the default actions"
run dirty $MTTY2 --map 1M --map 64K@0x40000000 --json
expect 0 "dirty --map: anonymous memory mapped through the library"
json "dirty --map"
[ "$(pyq "[(m['iova'], m['length']) for m in d['maps']], [(r['iova'], r['length']) for r in d['actions'][1]['ranges']]")" = \
	"[(0, 1048576), (1073741824, 65536)] [(0, 1048576), (1073741824, 65536)]" ] &&
	ok "dirty --map: placed after each other or at @IOVA, tracked as mapped" || bad "dirty --map: mappings and tracked ranges"
run dirty $GSRC --iommu type1 --backend type1 --map 2M --json
expect 0 "dirty --map on Type1"
[ "$(pyq "d['actions'][1]['ranges'][0]['dirty_pages'], d['actions'][1]['ranges'][0]['runs']")" = \
	"512 [{'iova': 0, 'pages': 512}]" ] &&
	ok "dirty --map on Type1: the mapping reported whole (no pinned-page scope), as one run" ||
	bad "dirty --map on Type1: the whole mapping dirty"
run dirty $GSRC --iommu type1 --map 8K@0xfee00000
expect 1 "dirty --map across the MSI window"
grep_err "outside the valid IOVA ranges" "dirty --map: the rule named"
# As tests/vm/cli-vm.sh shows on the real kernel: an mdev-only container
# reports pinned pages only (mtty pins none) and has no MSI window.
run dirty $MTTY2 --iommu type1 --backend type1 --map 2M --json
expect 0 "dirty --map on an mdev's Type1 container"
[ "$(pyq "d['maps'][0]['length'], d['actions'][1]['ranges'][0]['dirty_pages'], d['actions'][1]['ranges'][0]['runs']")" = \
	"2097152 0 []" ] &&
	ok "dirty --map on an mdev's Type1 container: no page dirty" ||
	bad "dirty --map on an mdev's Type1 container: no page dirty"
run dirty $MTTY2 --iommu type1 --map 8K@0xfee00000
expect 0 "dirty --map in the MSI window of an mdev-only container"
run dirty $MTTY2 --iommu type1 --map 1M@0 --map 64K@0x80000
expect 1 "dirty --map: overlapping mappings refused"
grep_err "overlaps the mapping \[0, +0x100000) (EEXIST)" "dirty --map: the kernel's EEXIST, the rule named"
run dirty $MTTY2 --map 4K --page-size 64K
expect 2 "dirty --map smaller than the page size"
run dirty $MTTY2 --map 0x1800
expect 2 "dirty --map of part of a page"

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

echo "== adversarial: closed standard fds"
# The real binary, not libtool's wrapper: the wrapper's shell would open
# its own script onto a closed fd before the tool runs.
real=$builddir/tools/.libs/vfiomig-ctl
[ -x "$real" ] || real=$ctl
# run_closed FDS ARGS...: like run, with the fds in FDS (e.g. 01) closed.
run_closed() {
	local fds=$1
	shift
	rm -f "$tmp/dump"
	(
		export VFIOMIG_FAKE=$machine VFIOMIG_FAKE_STRICT=1 VFIOMIG_FAKE_DUMP=$tmp/dump \
			LD_PRELOAD=$pre LD_LIBRARY_PATH=$builddir/lib/.libs
		exec >"$tmp/out" 2>"$tmp/err" </dev/null
		case $fds in *0*) exec 0<&- ;; esac
		case $fds in *1*) exec 1>&- ;; esac
		case $fds in *2*) exec 2>&- ;; esac
		exec "$real" "$@"
	)
	rc=$?
}
run state $MTTY2
mtty_fnv=$(dump_field $MTTY2 fnv)
for fds in 0 1 01 012 2; do
	rm -f "$tmp/closed.vfm"
	run_closed $fds save $MTTY2 -o "$tmp/closed.vfm"
	expect 0 "save -o FILE with fd(s) $fds closed"
	[ "$(dump_field $MTTY2 fnv)" = "$mtty_fnv" ] && ok "fd(s) $fds closed: the device's registers were not written" ||
		bad "fd(s) $fds closed: the device's registers were not written"
	[ "$(dump_field $MTTY2 state)" = 1 ] && ok "fd(s) $fds closed: the source is in STOP" ||
		bad "fd(s) $fds closed: the source is in STOP (state $(dump_field $MTTY2 state))"
	run load --verify-only -i "$tmp/closed.vfm"
	expect 0 "fd(s) $fds closed: the file holds a valid stream"
done
for fds in 1 01 012; do
	run_closed $fds save $MTTY2
	expect 1 "save to a closed stdout (fd(s) $fds closed) fails"
	[ "$(dump_field $MTTY2 fnv)" = "$mtty_fnv" ] && [ "$(dump_field $MTTY2 state)" = 2 ] &&
		ok "save to a closed stdout: the device untouched, still RUNNING" ||
		bad "save to a closed stdout: the device untouched, still RUNNING"
done
run_closed 1 save $MTTY2
grep_err "standard output is closed" "the refusal says stdout is closed"
run_closed 0 load $MTTY2B
expect 1 "load from a closed stdin fails"
grep_err "standard input is closed" "the refusal says stdin is closed"
[ "$(dump_field $MTTY2B state)" = 2 ] && ok "load from a closed stdin: the device still RUNNING" ||
	bad "load from a closed stdin: the device still RUNNING"
run_closed 01 load $MTTY2B -i "$tmp/mtty.vfm" --run
expect 0 "load -i FILE with fds 0 and 1 closed"
[ "$(dump_field $MTTY2B fnv)" = "$mtty_fnv" ] && ok "fds 0 and 1 closed: the load carried the data" ||
	bad "fds 0 and 1 closed: the load carried the data"
run_closed 012 list
expect 0 "list with fds 0-2 closed"

echo "== adversarial: input at an offset"
# stdin_at FILE OFFSET ARGS...: like run, with stdin FILE read up to OFFSET
# already (a filter reading its part of a file: dd reads exactly that).
stdin_at() {
	local in=$1 off=$2
	shift 2
	rm -f "$tmp/dump"
	(
		exec <"$in"
		[ "$off" -eq 0 ] || dd bs="$off" count=1 of=/dev/null 2>/dev/null
		VFIOMIG_FAKE=$machine VFIOMIG_FAKE_STRICT=1 VFIOMIG_FAKE_DUMP=$tmp/dump \
			LD_PRELOAD=$pre "${vg[@]}" "$ctl" "$@" >"$tmp/out" 2>"$tmp/err"
	)
	rc=$?
}
(printf 'not a stream, skipped by the reader\n' && cat "$f") >"$tmp/junk+gen.vfm"
junk=$(printf 'not a stream, skipped by the reader\n' | wc -c)
stdin_at "$tmp/junk+gen.vfm" "$junk" load --verify-only --json
expect 0 "verify-only from stdin at an offset"
[ "$(pyq "d['source']")" = $GSRC ] && ok "offset: the stream verified is the one at the offset" ||
	bad "offset: the stream verified is the one at the offset"
stdin_at "$tmp/junk+gen.vfm" "$junk" load $GDST --json
expect 0 "load from stdin at an offset (junk before it)"
[ "$(dump_field $GDST fnv)" = "$src_fnv" ] && ok "offset: the stream at the offset was loaded" ||
	bad "offset: the stream at the offset was loaded"
# Another valid stream before it: verifying one and loading the other
# would load an mtty stream into the generic device.
cat "$tmp/mtty.vfm" "$f" >"$tmp/two.vfm"
stdin_at "$tmp/two.vfm" "$(stat -c %s "$tmp/mtty.vfm")" load $GDST --json
expect 0 "load the second of two streams from stdin"
[ "$(dump_field $GDST fnv)" = "$src_fnv" ] && ok "two streams: the verified one was loaded" ||
	bad "two streams: the verified one was loaded"
[ "$(pyq "d['source']")" = $GSRC ] && ok "two streams: the summary names the loaded source" ||
	bad "two streams: the summary names the loaded source"
stdin_at "$tmp/two.vfm" 0 load $GDST
expect 1 "the two streams from offset 0: the first one is loaded, the rest is trailing data"
grep_err "trailing data" "two streams from 0: refused for the trailing data"
grep_err "was not touched" "two streams from 0: the device was not touched"
# A pipe still works (no seeking there).
(printf 'xx' && cat "$f") | (dd bs=2 count=1 of=/dev/null 2>/dev/null
	VFIOMIG_FAKE=$machine VFIOMIG_FAKE_STRICT=1 VFIOMIG_FAKE_DUMP=$tmp/dump \
		LD_PRELOAD=$pre "${vg[@]}" "$ctl" load $GDST >"$tmp/out" 2>"$tmp/err")
rc=$?
expect 0 "load from a pipe after a reader took its part"

echo "== adversarial: --force never replaces what is not a file"
d=$tmp/nodes
mkdir "$d"
mkfifo "$d/fifo"
python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$d/sock"
mkdir "$d/dir"
nodes="fifo sock dir"
if [ "$(id -u)" = 0 ] && mknod "$d/null" c 1 3 2>/dev/null; then
	nodes="$nodes null"
else
	echo "SKIP: mknod of a character device needs root"
fi
for n in $nodes; do
	kind=$(stat -c %F "$d/$n")
	run save $MTTY2 -o "$d/$n" --force
	expect 1 "save --force over a $kind is refused"
	grep_err "replaces only regular files and symbolic links" "$kind: the refusal says why"
	[ "$(stat -c %F "$d/$n")" = "$kind" ] && ok "$kind: unchanged" || bad "$kind: unchanged"
	[ "$(dump_field $MTTY2 state)" = 2 ] && [ "$(dump_field $MTTY2 fnv)" = "$mtty_fnv" ] &&
		ok "$kind: the device untouched" || bad "$kind: the device untouched"
done
if [ -c "$d/null" ]; then
	[ "$(stat -c %t:%T "$d/null")" = 1:3 ] && ok "the character device keeps its numbers" ||
		bad "the character device keeps its numbers"
fi
[ "$(ls -A "$d" | tr '\n' ' ')" = "$(ls "$d" | tr '\n' ' ')" ] && ok "no temporary left beside the nodes" ||
	bad "no temporary left beside the nodes: $(ls -A "$d")"
echo keep >"$d/reg"
run save $MTTY2 -o "$d/reg"
expect 1 "an existing file without --force"
[ "$(cat "$d/reg")" = keep ] && [ "$(dump_field $MTTY2 state)" = 2 ] &&
	ok "without --force: the file kept, the device untouched" || bad "without --force: the file kept, the device untouched"

echo "== adversarial: a failed save leaves the old target and no temporary"
d=$tmp/fail
mkdir "$d"
echo precious >"$d/t.vfm"
chmod 644 "$d/t.vfm"
# File size limit (ulimit -f, in KiB: 100 of the generic's 4 MiB): the
# write fails with SIGXFSZ/EFBIG, an error like any other.
(ulimit -f 100 && run save $GSRC -o "$d/t.vfm" --force && exit $rc)
rc=$?
expect 3 "save --force under a file size limit fails, rolled back: exit 3 (not killed by SIGXFSZ)"
(ulimit -f 100 && run save $GSRC -o "$d/t.vfm" --force; cat "$tmp/err" >"$tmp/err.keep")
mv "$tmp/err.keep" "$tmp/err"
grep_err "File too large" "the limit is named"
grep_err "back in running" "the source is put back after SIGXFSZ"
grep_err "removed the incomplete new file" "the incomplete file is removed"
[ "$(cat "$d/t.vfm")" = precious ] && [ "$(stat -c %a "$d/t.vfm")" = 644 ] &&
	ok "SIGXFSZ: the old target is intact" || bad "SIGXFSZ: the old target is intact"
(ulimit -f 100 && run save $GSRC -o "$d/new.vfm" && exit $rc)
rc=$?
expect 3 "save to a new file under a file size limit fails (exit 3)"
[ "$(ls -A "$d")" = t.vfm ] && ok "SIGXFSZ: no temporary and no new file left" ||
	bad "SIGXFSZ: no temporary and no new file left: $(ls -A "$d")"
# Streaming to a regular file on stdout: the same signal, the same cleanup.
(ulimit -f 100 && VFIOMIG_FAKE=$machine LD_PRELOAD=$pre "$ctl" save $GSRC >"$d/stdout.vfm" 2>"$tmp/err")
rc=$?
expect 3 "save -o - into a file over the limit fails with exit 3"
grep_err "back in running" "stdout over the limit: the source is put back"
rm -f "$d/stdout.vfm"
# A full disk, where a tmpfs can be mounted (root).
if [ "$(id -u)" = 0 ] && mkdir "$tmp/full" && mount -t tmpfs -o size=1m tmpfs "$tmp/full" 2>/dev/null; then
	echo precious >"$tmp/full/t.vfm"
	run save $GSRC -o "$tmp/full/t.vfm" --force
	expect 3 "save --force onto a full filesystem fails (exit 3)"
	grep_err "No space left on device" "the full disk is named"
	grep_err "back in running" "ENOSPC: the source is put back"
	[ "$(cat "$tmp/full/t.vfm")" = precious ] && ok "ENOSPC: the old target is intact" ||
		bad "ENOSPC: the old target is intact"
	[ "$(ls -A "$tmp/full")" = t.vfm ] && ok "ENOSPC: no temporary left" ||
		bad "ENOSPC: no temporary left: $(ls -A "$tmp/full")"
	umount "$tmp/full"
else
	echo "SKIP: no tmpfs to fill (needs root and mount)"
fi
# A device that fails midway: a device without migration fails after the
# output was prepared.
run save $NOMIG -o "$d/t.vfm" --force
expect 1 "a failed device leaves the target"
[ "$(cat "$d/t.vfm")" = precious ] && [ "$(ls -A "$d")" = t.vfm ] &&
	ok "device error: the old target intact, no temporary" || bad "device error: the old target intact, no temporary"
# A reader that goes away after one byte: SIGPIPE is an error, exit 1.
VFIOMIG_FAKE=$machine LD_PRELOAD=$pre "$ctl" save $GSRC 2>"$tmp/err" | head -c1 >/dev/null
rc=${PIPESTATUS[0]}
expect 3 "save | head -c1 fails with exit 3 (not killed by SIGPIPE)"
grep_err "back in running" "SIGPIPE: the source is put back"

echo "== adversarial: escape sequences in untrusted text"
# crc_fix FILE: recompute the header CRC (and 2.0's first section's)
# after an edit (CRC-32C).
crc_fix() {
	python3 - "$1" <<'PY'
import struct, sys
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 if c & 1 else 0)
    return c ^ 0xffffffff
p = sys.argv[1]
d = bytearray(open(p, 'rb').read())
d[252:256] = struct.pack('<I', crc32c(d[:252]))
if d[8] == 2:  # 2.0: the first device's section too
    d[508:512] = struct.pack('<I', crc32c(d[256:508]))
open(p, 'wb').write(d)
PY
}
# poke FILE OFFSET STRING: write STRING (printf syntax) at OFFSET.
poke() {
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
esc=$(printf '\033')
# 2.0: the device's strings in its section (256 + 48, 80, 112), the
# versions in the header (32, 48).
for field in driver:304 type:336 device:368 version:32 tool:48; do
	cp "$m" "$tmp/evil.vfm"
	poke "$tmp/evil.vfm" "${field#*:}" '\033]0;pwned\007\033[2J'
	crc_fix "$tmp/evil.vfm"
	for j in "" --json; do
		run load --verify-only -i "$tmp/evil.vfm" $j
		expect 1 "verify-only $j: an escape sequence in the header's ${field%:*} is refused"
		grep_err "not printable ASCII" "${field%:*}: the refusal says why"
		if grep -q "$esc" "$tmp/out" "$tmp/err"; then
			bad "${field%:*} $j: no ESC byte reaches the terminal"
		else
			ok "${field%:*} $j: no ESC byte reaches the terminal"
		fi
	done
	run load $MTTY2B -i "$tmp/evil.vfm"
	expect 1 "load: an escape sequence in the header's ${field%:*} is refused"
	! grep -q "$esc" "$tmp/out" "$tmp/err" && [ "$(dump_field $MTTY2B state)" = 2 ] &&
		ok "load ${field%:*}: no ESC byte shown, the device untouched" ||
		bad "load ${field%:*}: no ESC byte shown, the device untouched"
	run_pipe "$tmp/evil.vfm" load $MTTY2B
	expect 1 "load from a pipe: the escape sequence in the ${field%:*} is refused"
	! grep -q "$esc" "$tmp/out" "$tmp/err" && ok "pipe ${field%:*}: no ESC byte shown" ||
		bad "pipe ${field%:*}: no ESC byte shown"
done
# A hostile sysfs tree (a container's /sys): names with escape sequences
# are shown escaped by list, and list --json stays valid JSON.
hs=$tmp/hostile
evil_dev=$(printf 'evil\033]0;pwned\007x')
evil_drv=$(printf 'mtty\033[2J')
evil_type=$(printf 't\302\2331m')
mkdir -p "$hs/sys/devices/virtual/$evil_dev" "$hs/sys/bus/mdev/drivers/$evil_drv" \
	"$hs/sys/bus/mdev/devices" "$hs/sys/bus/pci/devices" "$hs/dev" \
	"$hs/sys/devices/virtual/types/$evil_type"
ln -s "../../../devices/virtual/$evil_dev" "$hs/sys/bus/mdev/devices/$evil_dev"
ln -s "../../../bus/mdev/drivers/$evil_drv" "$hs/sys/devices/virtual/$evil_dev/driver"
ln -s "../types/$evil_type" "$hs/sys/devices/virtual/$evil_dev/mdev_type"
run list --sysfs-root "$hs/sys" --dev-root "$hs/dev"
expect 0 "list of a hostile sysfs"
grep_out 'evil\\x1b\]0;pwned\\x07x' "list shows the device name escaped"
grep_out 'mtty\\x1b\[2J' "list shows the driver escaped"
grep_out 't\\xc2\\x9b1m' "list shows a C1 control (UTF-8) escaped"
if grep -q "$esc" "$tmp/out" "$tmp/err" || grep -q "$(printf '\302\233')" "$tmp/out"; then
	bad "list: no control byte reaches the terminal"
else
	ok "list: no control byte reaches the terminal"
fi
run list --sysfs-root "$hs/sys" --dev-root "$hs/dev" --json
json "list of a hostile sysfs"
[ "$(pyq "d[0]['name'] == '$evil_dev' and d[0]['mdev_type'] == '$evil_type'")" = True ] &&
	ok "list --json: the names survive as \\u escapes" || bad "list --json: the names survive as \\u escapes"
grep_out '\\u009b' "list --json: C1 as \\u009b"
run probe "$evil_dev" --sysfs-root "$hs/sys" --dev-root "$hs/dev"
expect 1 "probe of a hostile device fails (no device node)"
! grep -q "$esc" "$tmp/out" "$tmp/err" && grep -q 'evil\\x1b' "$tmp/err" &&
	ok "probe: the name in the error is escaped" || bad "probe: the name in the error is escaped"
run -v probe "$evil_dev" --sysfs-root "$hs/sys" --dev-root "$hs/dev"
! grep -q "$esc" "$tmp/out" "$tmp/err" && ok "-v: the library's log is escaped" ||
	bad "-v: the library's log is escaped"

echo "== migration v1 (the region of Linux 5.8-5.17)"
# The fake preload's 'v1' part: 0000:3e:00.1 (filled from a seed) and
# 0000:3e:00.2, the legacy migration region behind the same calls.
V1SRC=0000:3e:00.1
V1DST=0000:3e:00.2
machine=v1
run probe $V1SRC
expect 0 "probe a v1 device"
grep_out "^migration protocol  *v1 (migration region" "probe names protocol v1"
run probe $V1SRC --json
json "probe v1"
[ "$(pyq "d['protocol']")" = v1 ] && ok "probe --json: protocol v1" || bad "probe --json: protocol v1"
run conform $V1SRC --peer $V1DST
expect 0 "conform a v1 device with a peer"
grep_out "^PASS protocol  *v1 (migration region, Linux 5.8-5.17)" "conform: protocol v1"
grep_out "^SKIP data-fd  *v1 device: no data fd" "conform v1: data-fd skipped with the reason"
grep_out "^SKIP precopy-end  *v1 device" "conform v1: precopy-end skipped"
grep_out "^PASS invalid-targets .*_SAVING|_RESUMING refused" "conform v1: _SAVING|_RESUMING refused by the driver"
grep_out "^PASS state-pairs" "conform v1: the state pairs (no P2P)"
grep_out "^PASS round-trip" "conform v1: round trip"
if grep -q "^FAIL" "$tmp/out"; then bad "conform v1 has no FAIL"; else ok "conform v1 has no FAIL"; fi
run conform $V1SRC --json --only protocol,data-fd
json "conform v1"
[ "$(pyq "d['protocol'], [(c['check'], c['result']) for c in d['checks']]")" = \
	"v1 [('protocol', 'PASS'), ('migration-flags', 'PASS'), ('data-fd', 'SKIP')]" ] &&
	ok "conform v1 --json: protocol, data-fd SKIP" || bad "conform v1 --json: protocol, data-fd SKIP"
machine=mtty,generic,nomig
run conform $MTTY2 --only protocol
grep_out "^PASS protocol  *v2 (VFIO_DEVICE_FEATURE_MIGRATION)" "conform: protocol v2"
run conform $NOMIG --only protocol
expect 1 "conform of a device without migration fails"
grep_out "^FAIL protocol  *none" "conform: protocol none"
machine=v1

f=$tmp/proto-v1.vfm
run save $V1SRC -o "$f" --json
expect 0 "save a v1 device"
v1_fnv=$(dump_field $V1SRC fnv)
[ "$(pyq "d['source_state'], d['precopy_rounds'] >= 1")" = "stop True" ] &&
	ok "v1 save: precopy, source STOP" || bad "v1 save: precopy, source STOP"
run load $V1DST -i "$f" --json
expect 0 "load into a v1 device"
[ -n "$v1_fnv" ] && [ "$(dump_field $V1DST fnv)" = "$v1_fnv" ] && ok "v1 load: the destination holds the source's state" ||
	bad "v1 load: the destination holds the source's state ($(dump_field $V1DST fnv) != $v1_fnv)"
[ "$(dump_field $V1DST state)" = 1 ] && ok "v1 load: destination STOP" || bad "v1 load: destination STOP"
run migrate $V1SRC $V1DST --json
expect 0 "migrate v1 -> v1"
json "migrate v1"
[ "$(dump_field $V1DST fnv)" = "$v1_fnv" ] && [ "$(dump_field $V1SRC fnv)" = "$v1_fnv" ] &&
	ok "migrate v1: the state arrived" || bad "migrate v1: the state arrived"
is_states "migrate v1: source STOP" 1 $V1SRC
is_states "migrate v1: destination RUNNING" 2 $V1DST

# A v1 and a v2 device in one set: v1 has no P2P states.
machine=generic,v1
run migrate $GSRC,$V1SRC $GDST,$V1DST
expect 1 "a v1 member refused in a set without --allow-no-p2p"
grep_err "allow-no-p2p" "the refusal names --allow-no-p2p"
run migrate $GSRC,$V1SRC $GDST,$V1DST --allow-no-p2p --json
expect 0 "migrate a v2 + v1 set with --allow-no-p2p"
[ "$(dump_field $GDST fnv)" = "$(dump_field $GSRC fnv)" ] && ok "v2 + v1 set: the v2 member's data arrived" ||
	bad "v2 + v1 set: the v2 member's data arrived"
[ "$(dump_field $V1DST fnv)" = "$v1_fnv" ] && ok "v2 + v1 set: the v1 member's state arrived" ||
	bad "v2 + v1 set: the v1 member's state arrived"
[ "$(pyq "len(d['members'])")" = 2 ] && ok "v2 + v1 set --json: two members" || bad "v2 + v1 set --json: two members"
machine=v1

# Dirty pages: the preload's v1 functions have the merged 5.8 layout
# (no dirty pfns), so the mig-v1 backend is named and refused with why.
# iommufd is chosen: the range must be mapped (a read over a hole of the
# IOAS is EINVAL, 6.12.118).
run dirty $V1SRC --map 1M --json
expect 0 "dirty on a v1 device"
[ "$(pyq "'not mig-v1: $V1SRC: ' in d['reason']")" = True ] && ok "dirty v1: the reason names mig-v1 and why not" ||
	bad "dirty v1: the reason names mig-v1 and why not"
run dirty $V1SRC --range 0:1M --backend mig-v1
expect 1 "dirty --backend mig-v1 without dirty pfns"
grep_err "backend mig-v1 forced .* not available: $V1SRC: " "dirty --backend mig-v1: refused with the reason"
# 0000:3e:00.3 has the proposal's dirty pfn fields: tracked by mig-v1,
# chosen by itself and forced.
run dirty 0000:3e:00.3 --range 0:1M --json
expect 0 "dirty on a v1 device with dirty pfns"
[ "$(pyq "d['backend']")" = mig-v1 ] && ok "dirty v1 pfns: the mig-v1 backend" ||
	bad "dirty v1 pfns: the mig-v1 backend"
[ "$(pyq "d['actions'][1]['ranges'][0]['ok'] and d['actions'][2]['ok']")" = True ] &&
	ok "dirty v1 pfns: reported and stopped" || bad "dirty v1 pfns: reported and stopped"
run dirty 0000:3e:00.3 --range 0:1M --backend mig-v1
expect 0 "dirty --backend mig-v1 on a v1 device with dirty pfns"
run dirty $V1SRC --backend v1
expect 2 "dirty --backend: an unknown name"
grep_err "mig-v1" "the usage error lists mig-v1"
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
	COMP_WORDS=(vfiomig-ctl dirty dev --backend m); COMP_CWORD=4
	_vfiomig_ctl
	[ "${COMPREPLY[*]}" = "mig-v1" ] || exit 4
	COMP_WORDS=("$ctl" conform dev --only st); COMP_CWORD=4
	_vfiomig_ctl
	[ "${COMPREPLY[*]}" = "state-pairs stop-copy-to-pre-copy stop-copy-end" ] || exit 5
	COMP_WORDS=("$ctl" conform dev --only protocol,re); COMP_CWORD=4
	_vfiomig_ctl
	[ "${COMPREPLY[*]}" = "protocol,reset" ] || exit 6
) && ok "bash completion" || bad "bash completion (case $?)"

echo "== test-cli.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
