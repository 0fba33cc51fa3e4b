#!/bin/sh
# The exported symbols, the version script and the header declare the same
# list, and every export carries the VFIOMIG_0.1 version node.
set -eu
top=${top_srcdir:-$(dirname "$0")/..}
lib=${LIBVFIOMIG_SO:-lib/.libs/libvfiomig.so}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
grep -o 'vfiomig_[a-z0-9_]*(' "$top/include/vfiomig.h" | tr -d '(' | sort -u >"$tmp/header"
sed -n 's/^[[:space:]]*\(vfiomig_[a-z0-9_]*\);.*/\1/p' "$top/lib/libvfiomig.sym" | sort -u >"$tmp/map"
nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort -u >"$tmp/nm"
grep -v '@@VFIOMIG_0.1$' "$tmp/nm" | grep -v '^VFIOMIG_' >"$tmp/unversioned" || true
sed 's/@@.*//' "$tmp/nm" | sort -u >"$tmp/exports"
fail=0
diff -u "$tmp/header" "$tmp/map" || { echo "header and libvfiomig.sym differ"; fail=1; }
diff -u "$tmp/map" "$tmp/exports" || { echo "libvfiomig.sym and exports differ"; fail=1; }
[ -s "$tmp/unversioned" ] && { echo "unversioned exports:"; cat "$tmp/unversioned"; fail=1; }
exit $fail
