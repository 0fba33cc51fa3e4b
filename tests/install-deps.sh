#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install, from Debian 12's own archive, what building and testing libvfiomig
# needs. usage: tests/install-deps.sh [GROUP...]   (default: all groups)
#   build     compiler, autotools, Check, libnl (the library, the CLI, make check)
#   test      valgrind, clang, libFuzzer, xz (valgrind, clang, fuzz, distcheck phases)
#   vm        qemu and the kernel source + its build tools (the real-kernel tier)
#   deb       debhelper, lintian (the package build)
#   abi       abigail-tools (`make check-abi`, the abi phase of tests/run-all.sh)
# Runs apt-get as root, or through sudo when not root.
set -eu

groups=${*:-build test vm deb abi}
pkgs=
for g in $groups; do
	case $g in
	build) pkgs="$pkgs build-essential autoconf automake libtool pkg-config check
		libnl-3-dev libnl-genl-3-dev" ;;
	# libclang-rt-14-dev: libFuzzer and the sanitizer runtimes (only a
	# Recommends of clang, which --no-install-recommends skips).
	test) pkgs="$pkgs valgrind clang libclang-rt-14-dev xz-utils" ;;
	# build-kernel.sh: make gcc flex bison bc perl xz libelf (objtool); run-vm.sh:
	# qemu; the guest runs on the host's root: python3 (cli-vm.sh's JSON checks),
	# strace (example-vm.sh's ioctl count), kmod (insmod of the test driver).
	vm) pkgs="$pkgs qemu-system-x86 linux-source-6.12 flex bison bc libelf-dev strace
		xz-utils python3 kmod" ;;
	deb) pkgs="$pkgs debhelper dpkg-dev fakeroot lintian pkg-config" ;;
	abi) pkgs="$pkgs abigail-tools" ;;
	*)
		echo "install-deps.sh: unknown group '$g' (build test vm deb abi)" >&2
		exit 2
		;;
	esac
done

# shellcheck disable=SC2086
pkgs=$(printf '%s\n' $pkgs | awk '!seen[$0]++' | tr '\n' ' ')

sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "install-deps.sh: not root and no sudo: run me as root" >&2
		exit 1
	}
	sudo=sudo
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps.sh: apt-get install:" $pkgs
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs
