#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The manual covers the API: every function of include/vfiomig.h has
# man/<function>.3 (a page or a `.so man3/<page>.3` alias to an existing
# page), libvfiomig.7 names each in SEE ALSO, and every page formats without
# a warning. With BUILDDIR: every page in man/ is in dist_man_MANS there, and
# vfiomig-ctl.1 lists the checks of the built tool's conform.
# usage: tests/check-man.sh [BUILDDIR]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd -P)
man=$top/man
fail=0
bad() {
	echo "check-man: $*"
	fail=1
}

fns=$(grep -o 'vfiomig_[a-z0-9_]*(' "$top/include/vfiomig.h" | tr -d '(' | sort -u)
for fn in $fns; do
	page=$man/$fn.3
	if [ ! -f "$page" ]; then
		bad "no man/$fn.3"
		continue
	fi
	target=$(sed -n 's/^\.so[[:space:]]\{1,\}man3\/\(.*\)$/\1/p' "$page")
	if [ -n "$target" ] && [ ! -f "$man/$target" ]; then
		bad "man/$fn.3: .so target man3/$target does not exist"
	fi
	grep -q "^\.BR $fn (3)" "$man/libvfiomig.7" || bad "libvfiomig.7 does not name $fn(3)"
done

for page in "$man"/*.[137]; do
	grep -q '^\.so ' "$page" && continue
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 "$page" 2>&1 >/dev/null) ||
		bad "$(basename "$page"): man failed"
	[ -z "$out" ] || bad "$(basename "$page"): $out"
done

if [ $# -ge 1 ]; then
	listed=$(printf 'vfm-print:\n\t@echo $(dist_man_MANS)\n' |
		make -s --no-print-directory -C "$1" -f Makefile -f - vfm-print)
	for page in "$man"/*.[137]; do
		rel=man/$(basename "$page")
		case " $listed " in *" $rel "*) ;; *) bad "$rel is not in dist_man_MANS (Makefile.am MAN_* lists)" ;; esac
	done
	# conform's checks: the tool's table (its --help) and the manual's
	# list name the same checks in the same order.
	ctl=$1/tools/vfiomig-ctl
	if [ -x "$ctl" ]; then
		tool=$("$ctl" conform --help 2>/dev/null |
			sed -n '/^Checks:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' | tr '\n' ' ')
		page=$(sed -n '/^\.SS conform/,/^\.SS /{/^\.TP/{n;s/^\.B \([a-z0-9-]*\)$/\1/p}}' \
			"$man/vfiomig-ctl.1" | tr '\n' ' ')
		[ -n "$tool" ] && [ "$tool" = "$page" ] ||
			bad "vfiomig-ctl.1 conform lists '$page', the tool '$tool'"
	fi
fi
[ "$fail" -eq 0 ] && echo "check-man: $(echo "$fns" | wc -l) functions, all documented"
exit "$fail"
