#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's main job, inside the test VM (run by tests/main-job-host.sh
# through tests/vm/run-vm.sh): live-migrate the state of a set of two
# mtty-2 devices into two other mtty-2 instances the way a VMM does, with
# examples/vmm-migrate (device sets, paced precopy, the P2P barrier).
#
#  1. print what the library learns about the four devices (probe);
#  2. write the UART registers of both sources: scratch (SCR) and line
#     control (LCR) of both ports, BAR0 and BAR1;
#  3. migrate the set, precopy paced at 16 bytes per device per round;
#  4. read the registers back on the destinations and compare.
# Exit 0 only if every register arrived and the states are as expected
# (sources STOP, destinations RUNNING).  vfiomig-ctl reads and writes the
# registers and shows the states.
#
# Environment: VFIOMIG_MTTY2, VFIOMIG_MTTY2B (sources), VFIOMIG_MTTY2C,
# VFIOMIG_MTTY2D (destinations), UUIDs set by guest-init.sh; VFIOMIG_CTL
# and VFIOMIG_EXAMPLE, the vfiomig-ctl and vmm-migrate to run (default:
# from PATH).
set -u

ctl=${VFIOMIG_CTL:-vfiomig-ctl}
ex=${VFIOMIG_EXAMPLE:-vmm-migrate}
s1=${VFIOMIG_MTTY2:-}
s2=${VFIOMIG_MTTY2B:-}
d1=${VFIOMIG_MTTY2C:-}
d2=${VFIOMIG_MTTY2D:-}
say() { printf '\n---- %s\n' "$*"; }
die() {
	echo "main-job.sh: FAILED: $*" >&2
	exit 1
}

if [ -z "$s1" ] || [ -z "$s2" ] || [ -z "$d1" ] || [ -z "$d2" ]; then
	[ -n "${VFIOMIG_VM:-}" ] || {
		echo "main-job.sh: SKIP: not in the test VM (run tests/main-job-host.sh)" >&2
		exit 77
	}
	die "the mtty-2 instances were not created (VFIOMIG_MTTY2, 2B, 2C, 2D)"
fi
command -v "$ctl" >/dev/null 2>&1 || die "$ctl not found"
command -v "$ex" >/dev/null 2>&1 || die "$ex not found"

say "vfiomig-ctl and the kernel"
"$ctl" --version || die "vfiomig-ctl --version"
echo "kernel $(uname -r)"

say "devices"
"$ctl" list || die "list"

for d in "$s1" "$s2" "$d1" "$d2"; do
	say "capabilities of $d"
	"$ctl" probe "$d" || die "probe $d"
done

# All must start RUNNING (mtty keeps its state across opens).
for d in "$s1" "$s2" "$d1" "$d2"; do
	s=$("$ctl" state "$d") || die "state $d"
	[ "$s" = running ] || "$ctl" state "$d" running --recover reset || die "cannot make $d running"
done

# BAR:OFFSET:VALUE; a 16550's LCR is at 3, SCR at 7.  (Never touch mtty
# regions 2-5.)
regs1="0:7:0x5a 0:3:0x1b 1:7:0xc3 1:3:0x07"
regs2="0:7:0x3c 0:3:0x03 1:7:0xa5 1:3:0x1f"
# each REGS FN ARG...: run FN ARG... BAR OFFSET VALUE for every register.
each() {
	regs=$1
	shift
	for r in $regs; do
		rest=${r#*:}
		"$@" "${r%%:*}" "${rest%%:*}" "${rest#*:}" || return 1
	done
}
# shellcheck disable=SC2317 # called through each()
write_reg() { # DEV BAR OFF VAL
	printf '%s BAR%s offset %s <- %s: ' "$1" "$2" "$3" "$4"
	"$ctl" region "$1" "$2" "$3" "$4"
}
# shellcheck disable=SC2317 # called through each()
show_reg() { # DEV BAR OFF VAL
	printf '%s BAR%s offset %s = %s\n' "$1" "$2" "$3" "$("$ctl" region "$1" "$2" "$3")"
}

say "write UART registers on the sources"
each "$regs1" write_reg "$s1" || die "write the registers of $s1"
each "$regs2" write_reg "$s2" || die "write the registers of $s2"
say "registers of the destinations before"
each "$regs1" show_reg "$d1"
each "$regs2" show_reg "$d2"

say "migrate the set $s1,$s2 -> $d1,$d2 (examples/vmm-migrate)"
"$ex" --budget 16 "$s1,$s2" "$d1,$d2" || die "vmm-migrate"

say "states after"
for d in "$s1" "$s2"; do
	s=$("$ctl" state "$d") || die "state $d"
	echo "source $d: $s"
	[ "$s" = stop ] || die "the source $d is $s, not stop"
done
for d in "$d1" "$d2"; do
	s=$("$ctl" state "$d") || die "state $d"
	echo "destination $d: $s"
	[ "$s" = running ] || die "the destination $d is $s, not running"
done

say "registers of the destinations after"
bad=0
# shellcheck disable=SC2317 # called through each()
check_reg() { # DEV SRC BAR OFF VAL
	got=$("$ctl" region "$1" "$3" "$4") || return 1
	if [ "$(printf '%d' "$got")" -eq "$(printf '%d' "$5")" ]; then
		echo "$1 BAR$3 offset $4 = $got (wrote $5 on $2): verified"
	else
		echo "$1 BAR$3 offset $4 = $got (wrote $5 on $2): MISMATCH"
		bad=$((bad + 1))
	fi
}
each "$regs1" check_reg "$d1" "$s1" || die "read the registers of $d1"
each "$regs2" check_reg "$d2" "$s2" || die "read the registers of $d2"
[ "$bad" -eq 0 ] || die "$bad register(s) did not arrive"

# Leave the sources running again, as after a cancelled migration.
for d in "$s1" "$s2"; do
	"$ctl" state "$d" running >/dev/null || die "cannot restart $d"
done
say "main job: PASSED: the UART registers of $s1 and $s2 arrived in $d1 and $d2"
exit 0
