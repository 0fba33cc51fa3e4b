#!/bin/sh
# The exported symbols, the version script and the header declare the same
# list, and every export carries a VFIOMIG_ version node (a symbol whose
# interface changed keeps its old node as a compat version: name@VFIOMIG_X.Y
# beside the default name@@VFIOMIG_X.Z).
set -eu
top=${top_srcdir:-$(dirname "$0")/..}
lib=${LIBVFIOMIG_SO:-lib/.libs/libvfiomig.so}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
grep -o 'vfiomig_[a-z0-9_]*(' "$top/include/vfiomig.h" | tr -d '(' | sort -u >"$tmp/header"
sed -n 's/^[[:space:]]*\(vfiomig_[a-z0-9_]*\);.*/\1/p' "$top/lib/libvfiomig.sym" | sort -u >"$tmp/map"
nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort -u >"$tmp/nm"
grep -v '@@\{0,1\}VFIOMIG_[0-9]*\.[0-9]*$' "$tmp/nm" | grep -v '^VFIOMIG_' >"$tmp/unversioned" || true
grep '@@VFIOMIG_' "$tmp/nm" | sed 's/@@.*//' | sort -u >"$tmp/exports"
# every compat version has a default version too
grep -v '@@' "$tmp/nm" | grep '@VFIOMIG_' | sed 's/@.*//' | sort -u >"$tmp/compat" || true
fail=0
diff -u "$tmp/header" "$tmp/map" || { echo "header and libvfiomig.sym differ"; fail=1; }
diff -u "$tmp/map" "$tmp/exports" || { echo "libvfiomig.sym and default exports differ"; fail=1; }
[ -s "$tmp/unversioned" ] && { echo "unversioned exports:"; cat "$tmp/unversioned"; fail=1; }
comm -23 "$tmp/compat" "$tmp/exports" >"$tmp/orphans"
[ -s "$tmp/orphans" ] && { echo "compat versions without a default:"; cat "$tmp/orphans"; fail=1; }
# The Debian symbols file is generated from the version script: stale, it
# fails only the package build, late; catch it here (not in a dist tarball,
# which leaves debian/ out).
if [ -f "$top/debian/gen-symbols.sh" ]; then
	sh "$top/debian/gen-symbols.sh" --check >"$tmp/deb" 2>&1 ||
		{ cat "$tmp/deb"; echo "debian/libvfiomig0.symbols is stale"; fail=1; }
fi
exit $fail
