#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's main job, inside the test VM (run by tests/main-job-host.sh
# through tests/vm/run-vm.sh): live-migrate the state of one mtty-2 device
# into a second mtty-2 instance through libvfiomig, with vfiomig-ctl.
#
#  1. print what the library learns about both devices (probe);
#  2. write the UART registers of the source: scratch (SCR) and line
#     control (LCR) of both ports, BAR0 and BAR1;
#  3. migrate, with precopy progress visible (-v --progress);
#  4. read the registers back on the destination and compare.
# Exit 0 only if every register arrived and the states are as expected.
#
# Environment: VFIOMIG_MTTY2, VFIOMIG_MTTY2B (UUIDs, set by guest-init.sh);
# VFIOMIG_CTL, the vfiomig-ctl to run (default: vfiomig-ctl from PATH).
set -u

ctl=${VFIOMIG_CTL:-vfiomig-ctl}
src=${VFIOMIG_MTTY2:-}
dst=${VFIOMIG_MTTY2B:-}
say() { printf '\n---- %s\n' "$*"; }
die() {
	echo "main-job.sh: FAILED: $*" >&2
	exit 1
}

if [ -z "$src" ] || [ -z "$dst" ]; then
	[ -n "${VFIOMIG_VM:-}" ] || {
		echo "main-job.sh: SKIP: not in the test VM (run tests/main-job-host.sh)" >&2
		exit 77
	}
	die "the mtty-2 instances were not created (VFIOMIG_MTTY2/VFIOMIG_MTTY2B unset)"
fi
command -v "$ctl" >/dev/null 2>&1 || die "$ctl not found"

say "vfiomig-ctl and the kernel"
"$ctl" --version || die "vfiomig-ctl --version"
echo "kernel $(uname -r)"

say "devices"
"$ctl" list || die "list"

say "capabilities of the source $src"
"$ctl" probe "$src" || die "probe $src"
say "capabilities of the destination $dst"
"$ctl" probe "$dst" || die "probe $dst"

# Both must start RUNNING (mtty keeps its state across opens).
for d in "$src" "$dst"; do
	s=$("$ctl" state "$d") || die "state $d"
	[ "$s" = running ] || "$ctl" state "$d" running --recover reset || die "cannot make $d running"
done

# Values: BAR0 (port 0) SCR 0x5a LCR 0x1b; BAR1 (port 1) SCR 0xc3 LCR 0x07.
# Offsets in a 16550: LCR 3, SCR 7.  (Never touch mtty regions 2-5.)
regs="0:7:0x5a 0:3:0x1b 1:7:0xc3 1:3:0x07"
say "write UART registers on the source"
for r in $regs; do
	bar=${r%%:*}
	rest=${r#*:}
	off=${rest%%:*}
	val=${rest#*:}
	printf 'BAR%s offset %s <- %s: ' "$bar" "$off" "$val"
	"$ctl" region "$src" "$bar" "$off" "$val" || die "write BAR$bar+$off"
done
say "registers of the destination before"
for r in $regs; do
	bar=${r%%:*}
	rest=${r#*:}
	off=${rest%%:*}
	printf 'BAR%s offset %s = %s\n' "$bar" "$off" "$("$ctl" region "$dst" "$bar" "$off")"
done

say "migrate $src -> $dst"
"$ctl" -v migrate --progress "$src" "$dst" || die "migrate"

say "states after"
ss=$("$ctl" state "$src") || die "state $src"
ds=$("$ctl" state "$dst") || die "state $dst"
echo "source $src: $ss"
echo "destination $dst: $ds"
[ "$ss" = stop ] || die "the source is $ss, not stop"
[ "$ds" = running ] || die "the destination is $ds, not running"

say "registers of the destination after"
bad=0
for r in $regs; do
	bar=${r%%:*}
	rest=${r#*:}
	off=${rest%%:*}
	val=${rest#*:}
	got=$("$ctl" region "$dst" "$bar" "$off") || die "read BAR$bar+$off"
	if [ "$(printf '%d' "$got")" -eq "$(printf '%d' "$val")" ]; then
		echo "BAR$bar offset $off = $got (wrote $val on the source): verified"
	else
		echo "BAR$bar offset $off = $got (wrote $val on the source): MISMATCH"
		bad=$((bad + 1))
	fi
done
[ "$bad" -eq 0 ] || die "$bad register(s) did not arrive"

# Leave the source running again, as after a cancelled migration.
"$ctl" state "$src" running >/dev/null || die "cannot restart the source"
say "main job: PASSED: the UART registers of $src arrived in $dst"
exit 0
