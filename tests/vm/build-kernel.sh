#!/bin/sh
# Build (or reuse) the kernel for the real-kernel VM test tier.
#
# Source: Debian's linux-source-6.12 tarball; config: tinyconfig + kernel.config.
# The result is cached outside the work tree, keyed by package version and the
# fragment's hash, so a second run is instant:
#   ${VFIOMIG_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libvfiomig}/<version>-<sha16>/bzImage
# Progress goes to stderr; the bzImage path is the last line on stdout.
# Exit 77 (skip) when the tarball or a build tool is missing.
set -eu

pkg=linux-source-6.12
tarball=/usr/src/$pkg.tar.xz
here=$(cd "$(dirname "$0")" && pwd -P)
frag=$here/kernel.config

log() { echo "build-kernel.sh: $*" >&2; }
skip() {
	echo "*** SKIP: build-kernel.sh: $* ***" >&2
	exit 77
}

[ -r "$tarball" ] || skip "kernel source $tarball not found (apt-get install $pkg)"
ver=$(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null) ||
	skip "package $pkg is not installed (dpkg-query failed)"
missing=
for tool in make gcc ld flex bison bc perl tar xz sha256sum flock nproc; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
# objtool (x86-64) needs libelf headers.
[ -e /usr/include/gelf.h ] || missing="$missing libelf-dev"
[ -z "$missing" ] || skip "missing build tools:$missing"

cache=${VFIOMIG_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libvfiomig}
hash=$(sha256sum <"$frag" | cut -c1-16)
# ':' (a Debian epoch) is not allowed in kbuild paths.
dir=$cache/$(printf '%s' "$ver" | tr ':' '_')-$hash
img=$dir/bzImage
# The unpacked source is shared by all fragments of one package version.
src=$cache/src-$(printf '%s' "$ver" | tr ':' '_')

if [ ! -f "$img" ]; then
	mkdir -p "$cache"
	# One build at a time per cache; a waiter finds the result when it gets the lock.
	exec 9>"$cache/.lock"
	if ! flock -n 9; then
		log "another build holds $cache/.lock; waiting"
		flock 9
	fi
fi

# The test driver (mdrv/mtest.c): built against the kernel's tree, beside
# the image; make rebuilds it only when its source changed (cp -p).
build_mdrv() {
	mdrv=$dir/mdrv
	exec 8>"$dir/.mdrv.lock"
	flock 8
	mkdir -p "$mdrv"
	cp -p "$here/mdrv/mtest.c" "$here/mdrv/Kbuild" "$mdrv/"
	make -C "$src" O="$dir/build" M="$mdrv" modules >"$dir/mdrv.log" 2>&1 || {
		tail -n 40 "$dir/mdrv.log" >&2
		log "FAILED: the test driver (full log: $dir/mdrv.log)"
		exit 1
	}
	cp "$mdrv/mtest.ko" "$dir/mtest.ko.tmp"
	mv "$dir/mtest.ko.tmp" "$dir/mtest.ko"
	exec 8>&-
}

if [ -f "$img" ]; then
	log "using cached kernel (no rebuild)"
	build_mdrv
	echo "$img"
	exit 0
fi

if [ ! -f "$src/.unpacked" ]; then
	log "unpacking $tarball into $src"
	rm -rf "$src"
	mkdir -p "$src"
	tar -xJf "$tarball" -C "$src" --strip-components=1
	: >"$src/.unpacked"
fi

build=$dir/build
mkdir -p "$build"
blog=$dir/build.log
kmake() { make -C "$src" O="$build" "$@" >>"$blog" 2>&1; }
fail() {
	tail -n 40 "$blog" >&2 || true
	log "FAILED: $* (full log: $blog)"
	exit 1
}
: >"$blog"

log "configuring (tinyconfig + $frag)"
kmake tinyconfig || fail "make tinyconfig"
# Appended lines override tinyconfig's (Kconfig keeps the last assignment).
cat "$frag" >>"$build/.config"
kmake olddefconfig || fail "make olddefconfig"

# Every CONFIG_X=y of the fragment must have survived olddefconfig.
lost=$(sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=y$/\1/p' "$frag" |
	while read -r opt; do
		grep -qx "$opt=y" "$build/.config" || echo "$opt"
	done)
if [ -n "$lost" ]; then
	log "ERROR: these options of $frag did not end up =y (unmet dependencies?):"
	for opt in $lost; do
		log "  $opt (now: $(grep -E "^(# )?${opt}[= ]" "$build/.config" || echo absent))"
	done
	exit 1
fi

log "building bzImage with -j$(nproc) (log: $blog)"
kmake -j"$(nproc)" bzImage || fail "make bzImage"
# Module.symvers, for the out-of-tree test driver (tests/vm/mdrv); the
# build tree stays in the cache for it.
kmake -j"$(nproc)" modules || fail "make modules"
cp "$build/.config" "$dir/config"
cp "$build/arch/x86/boot/bzImage" "$img.tmp"
mv "$img.tmp" "$img"
log "built $img"
build_mdrv
echo "$img"
