#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# examples/vmm-migrate on the real kernel, inside the test VM (make
# check-vm runs it after the kernel-facing cases):
#  1. a set of two mtty-2 migrated into two others, precopy paced at 16
#     bytes a round: the UART registers arrive, the sources end in STOP,
#     the destinations in RUNNING;
#  2. a wrong-type destination (an mtty-1 for an mtty-2 stream): exit 1,
#     the sources RUNNING again with their registers, the destinations
#     RUNNING (discarded);
#  3. the ioctl count: one device migrated under strace; the VFIO ioctls
#     of each phase beside QEMU's flow for the same device (counted from
#     hw/vfio/migration.c, see qemu_count below).  Fails above QEMU + 2.
#
# Environment: VFIOMIG_BUILDDIR (default: the current directory), the
# VFIOMIG_MTTY* UUIDs of guest-init.sh.  Ends with "N passed, N failed";
# exit 0 when nothing failed, 77 outside the VM.
set -u

b=${VFIOMIG_BUILDDIR:-$(pwd)}
ex=$b/examples/vmm-migrate
ctl=$b/tools/vfiomig-ctl
m1=${VFIOMIG_MTTY1:-}
s1=${VFIOMIG_MTTY2:-}
s2=${VFIOMIG_MTTY2B:-}
d1=${VFIOMIG_MTTY2C:-}
d2=${VFIOMIG_MTTY2D:-}
if [ -z "${VFIOMIG_VM:-}" ]; then
	echo "example-vm.sh: SKIP: needs the test VM (make check-vm)"
	exit 77
fi
tmp=$(mktemp -d /tmp/example-vm.XXXXXX)
pass=0
fail=0

ok() {
	pass=$((pass + 1))
	echo "PASS: $*"
}
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*"
	sed 's/^/  stdout: /' "$tmp/out" 2>/dev/null | head -n 40
	sed 's/^/  stderr: /' "$tmp/err" 2>/dev/null | head -n 20
}
# check WHAT CMD...: pass when CMD succeeds
check() {
	w=$1
	shift
	if "$@"; then ok "$w"; else bad "$w"; fi
}
# is DEVICE STATE WHAT
is() {
	s=$("$ctl" state "$1" 2>&1)
	if [ "$s" = "$2" ]; then ok "$3"; else bad "$3 (state is '$s', expected $2)"; fi
}
reg() { printf '%d' "$("$ctl" region "$1" "$2" "$3")"; }
setreg() { "$ctl" region "$1" "$2" "$3" "$4" >/dev/null; }
running() {
	for d in "$@"; do
		"$ctl" state "$d" running --recover reset >/dev/null 2>&1 ||
			echo "example-vm.sh: cannot make $d running" >&2
	done
}
# regs DEVICE SALT: write SCR (7) and LCR (3) of both ports.
regs() {
	setreg "$1" 0 7 $((0x40 + $2)) && setreg "$1" 0 3 $((0x03 + $2 % 4)) &&
		setreg "$1" 1 7 $((0x80 + $2)) && setreg "$1" 1 3 $((0x1b - $2 % 4))
}
# same_regs FROM TO WHAT: the four registers of FROM equal TO's.
same_regs() {
	for r in 0:7 0:3 1:7 1:3; do
		a=$(reg "$1" "${r%%:*}" "${r#*:}")
		c=$(reg "$2" "${r%%:*}" "${r#*:}")
		if [ "$a" != "$c" ]; then
			bad "$3 (BAR${r%%:*}+${r#*:}: $c, expected $a)"
			return
		fi
	done
	ok "$3"
}
# expect_regs DEVICE SALT WHAT
expect_regs() {
	want="0:7:$((0x40 + $2)) 0:3:$((0x03 + $2 % 4)) 1:7:$((0x80 + $2)) 1:3:$((0x1b - $2 % 4))"
	for w in $want; do
		bar=${w%%:*} rest=${w#*:}
		got=$(reg "$1" "$bar" "${rest%%:*}")
		if [ "$got" != "${rest#*:}" ]; then
			bad "$3 (BAR$bar+${rest%%:*}: $got, expected ${rest#*:})"
			return
		fi
	done
	ok "$3"
}

for v in m1 s1 s2 d1 d2; do
	eval "u=\$$v"
	if [ -z "$u" ]; then
		echo "FAIL: guest-init.sh did not create the mtty instance for $v"
		exit 1
	fi
done
[ -x "$ex" ] || { echo "FAIL: $ex not built"; exit 1; }

echo "== a set of two: $s1,$s2 -> $d1,$d2"
running "$s1" "$s2" "$d1" "$d2"
regs "$s1" 1
regs "$s2" 2
regs "$d1" 13
regs "$d2" 14
"$ex" --budget 16 "$s1,$s2" "$d1,$d2" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
sed 's/^/  /' "$tmp/out"
check "vmm-migrate a set of two: exit 0 (exit $rc)" [ "$rc" = 0 ]
check "precopy paced: 16 B per device a round (round 1: 2 x 16 B moved, 2 x 8 B left)" \
	grep -q "^round 1: moved 32 B; initial 16 B" "$tmp/out"
check "switchover after the initial data drained" grep -q "initial data drained" "$tmp/out"
expect_regs "$d1" 1 "registers of $s1 arrived in $d1"
expect_regs "$d2" 2 "registers of $s2 arrived in $d2"
is "$s1" stop "source $s1 STOP"
is "$s2" stop "source $s2 STOP"
is "$d1" running "destination $d1 RUNNING"
is "$d2" running "destination $d2 RUNNING"

echo "== a wrong-type destination: $s1,$s2 -> $d1,$m1 (mtty-1)"
running "$s1" "$s2" "$d1" "$m1"
regs "$s1" 5
regs "$s2" 6
"$ex" "$s1,$s2" "$d1,$m1" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
sed 's/^/  /' "$tmp/out" "$tmp/err"
check "vmm-migrate into an mtty-1: exit 1, rolled back (exit $rc)" [ "$rc" = 1 ]
check "says it rolled back" grep -q "FAILED, rolled back" "$tmp/out"
is "$s1" running "source $s1 RUNNING again"
is "$s2" running "source $s2 RUNNING again"
expect_regs "$s1" 5 "source $s1 kept its registers"
expect_regs "$s2" 6 "source $s2 kept its registers"
is "$d1" running "destination $d1 RUNNING (discarded)"
is "$m1" running "destination $m1 RUNNING (discarded)"

# ------------------------------------------------------------------
# The ioctl count.  QEMU's flow for one device with PRE_COPY and P2P
# (hw/vfio/migration.c; VFIO_DEVICE_FEATURE and VFIO_MIG_GET_PRECOPY_INFO):
#   setup       vfio_save_setup: MIG_DATA_SIZE, SET PRE_COPY, PRECOPY_INFO  3
#   precopy     per round, state_pending_exact: MIG_DATA_SIZE,
#               PRECOPY_INFO (save_iterate's read is no ioctl)        2/round
#   switchover  vmstate_change_prepare PRE_COPY_P2P, vmstate_change
#               STOP_COPY (save_complete_precopy's second STOP_COPY
#               is not counted: QEMU skips a SET to the current state)      2
#   stop-copy   reads only                                                  0
#   destination load_setup RESUMING; vmstate_change_prepare RUNNING_P2P     2
#   start       vmstate_change RUNNING                                      1
#   source      save_cleanup STOP                                           1
# = 9 + 2 per precopy round (11 for mtty's one round: the issue's "about
# 11").  At realize QEMU also probes GET MIGRATION and PROBE DMA_LOGGING
# per device: shown beside our open, not counted in the migration path.
echo "== the ioctl count: $s1 -> $d1 under strace"
running "$s1" "$d1"
if ! command -v strace >/dev/null 2>&1; then
	bad "strace not found (tests/install-deps.sh vm installs it)"
else
	"$b/libtool" --mode=execute strace -f -s 100 -e raw=ioctl \
		-e trace=ioctl,write -o "$tmp/strace" "$ex" "$s1" "$d1" \
		>"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	check "vmm-migrate one device under strace: exit 0 (exit $rc)" [ "$rc" = 0 ]
	awk -v rounds="$(grep -c '^round ' "$tmp/out")" -f - "$tmp/strace" >"$tmp/count" <<'EOF'
BEGIN {
	split("setup precopy switchover stop-copy destination start source", order)
	q["setup"] = 3; q["precopy"] = 2 * rounds; q["switchover"] = 2
	q["stop-copy"] = 0; q["destination"] = 2; q["start"] = 1; q["source"] = 1
	nm["0x3b75"] = "FEATURE"; nm["0x3b79"] = "PRECOPY_INFO"; nm["0x3b6f"] = "RESET"
	phase = "open"
}
/ write\(1, "/ {
	s = $0; sub(/.* write\(1, "/, "", s)
	if (s ~ /^destination: loaded/) phase = "start"
	else if (s ~ /^round [0-9]+:/) phase = "precopy"
	else if (s ~ /^(setup|precopy|switchover|stop-copy|destination|source|states):/) {
		sub(/:.*/, "", s); phase = s
	}
	next
}
/ ioctl\(/ {
	s = $0; sub(/.* ioctl\([0-9a-fx]+, /, "", s); sub(/,.*/, "", s)
	if (s !~ /^0x3b/) next
	all[phase]++
	if (s in nm) { mig[phase]++; kind[phase, nm[s]]++ }
}
END {
	printf "%-12s %5s %5s  %s\n", "phase", "ours", "qemu", "(ours: FEATURE/PRECOPY_INFO/RESET; all VFIO+iommufd ioctls)"
	for (i = 1; i in order; i++) {
		p = order[i]; ours += mig[p]; qemu += q[p]
		printf "%-12s %5d %5d  (%d/%d/%d; %d)\n", p, mig[p], q[p],
			kind[p, "FEATURE"], kind[p, "PRECOPY_INFO"], kind[p, "RESET"], all[p]
	}
	printf "%-12s %5d %5d\n", "migration", ours, qemu
	printf "open         %5d %5d  (device open and probes, not counted; %d in all)\n",
		mig["open"], 4, all["open"]
	printf "states       %5d        (the final report, not counted)\n", mig["states"]
	printf "RESULT %d %d\n", ours, qemu
}
EOF
	sed 's/^/  /' "$tmp/count"
	# shellcheck disable=SC2046 # two numbers
	set -- $(sed -n 's/^RESULT //p' "$tmp/count")
	if [ $# -eq 2 ] && [ "$1" -gt 0 ] && [ "$1" -le $(($2 + 2)) ]; then
		ok "VFIO ioctls on the migration path: ours $1, QEMU's flow $2 (goal <= $(($2 + 2)))"
	else
		bad "VFIO ioctls on the migration path: ours ${1:-?}, QEMU's flow ${2:-?} (goal <= QEMU + 2)"
		sed 's/^/  strace: /' "$tmp/strace" | grep -e 'ioctl(' -e 'write(1' | head -n 80
	fi
fi

running "$s1" "$s2" "$d1" "$d2" "$m1"
rm -rf "$tmp"
echo "example-vm.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
