#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# debian/libvfiomig0.symbols from lib/libvfiomig.sym: every symbol of version
# node VFIOMIG_X.Y as `name@VFIOMIG_X.Y X.Y`, plus the node itself.
#   debian/gen-symbols.sh            print the symbols file
#   debian/gen-symbols.sh --write    rewrite debian/libvfiomig0.symbols
#   debian/gen-symbols.sh --check    exit 1 (with a diff) if it is stale
set -eu
here=$(cd "$(dirname "$0")" && pwd -P)
map=$here/../lib/libvfiomig.sym
out=$here/libvfiomig0.symbols

gen() {
	echo "libvfiomig.so.0 libvfiomig0 #MINVER#"
	echo "* Build-Depends-Package: libvfiomig-dev"
	awk '
	/^[[:space:]]*VFIOMIG_[0-9.]+[[:space:]]*\{/ { node = $1; sub(/\{.*/, "", node); next }
	/^[[:space:]]*\}/ { node = ""; next }
	node != "" && /^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*;/ {
		sym = $1; sub(/;.*/, "", sym)
		ver = node; sub(/^VFIOMIG_/, "", ver)
		printf " %s@%s %s\n", sym, node, ver
		if (!(node in nodes)) { nodes[node] = ver; order[++n] = node }
	}
	END { for (i = 1; i <= n; i++) printf " %s@%s %s\n", order[i], order[i], nodes[order[i]] }
	' "$map" | LC_ALL=C sort
}

case ${1:-} in
'') gen ;;
--write) gen >"$out" ;;
--check)
	tmp=$(mktemp)
	trap 'rm -f "$tmp"' EXIT
	gen >"$tmp"
	if ! diff -u "$out" "$tmp"; then
		echo "debian/libvfiomig0.symbols is stale: run debian/gen-symbols.sh --write" >&2
		exit 1
	fi
	echo "debian/libvfiomig0.symbols matches lib/libvfiomig.sym ($(grep -c '^ ' "$out") symbols)"
	;;
*)
	echo "usage: $0 [--write|--check]" >&2
	exit 2
	;;
esac
