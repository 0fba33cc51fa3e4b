# bash completion for vfiomig-ctl                         -*- shell-script -*-
# SPDX-License-Identifier: GPL-2.0-or-later

_vfiomig_ctl_devices()
{
	local sys=${VFIOMIG_SYSFS_ROOT:-/sys} d
	for d in "$sys"/bus/mdev/devices/* "$sys"/bus/pci/devices/*; do
		[ -e "$d" ] || continue
		if [ "${d#"$sys"/bus/pci/}" != "$d" ]; then
			# PCI functions bound to vfio-pci or a variant driver
			case $(readlink "$d/driver" 2>/dev/null) in
			*/vfio-pci | *_vfio_pci) ;;
			*) continue ;;
			esac
		fi
		printf '%s\n' "${d##*/}"
	done
}

# The names of conform's checks, from its own --help (one table in the tool).
_vfiomig_ctl_checks()
{
	"$1" conform --help 2>/dev/null |
		sed -n '/^Checks:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p'
}

_vfiomig_ctl()
{
	local cur prev words cword
	_init_completion || return

	local commands="list probe state save load migrate dirty conform devlink region"
	local global="-v --verbose --sysfs-root --dev-root -h --help -V --version"
	local states="running stop stop-copy resuming running-p2p pre-copy pre-copy-p2p"
	local cmd="" i nargs=0
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--sysfs-root | --dev-root) ((i++)) ;;
		-*) ;;
		*)
			if [ -z "$cmd" ]; then
				cmd=${words[i]}
			else
				case ${words[i - 1]} in
				-o | --output | -i | --input | --iommu | --recover | --max-rounds | --step | \
					--peer | --map | --range | --page-size | --report-page-size | \
					--backend | --sleep | --only) ;;
				*) ((nargs++)) ;;
				esac
			fi
			;;
		esac
	done

	case $prev in
	--sysfs-root | --dev-root)
		_filedir -d
		return
		;;
	-o | --output | -i | --input)
		_filedir
		return
		;;
	--iommu)
		COMPREPLY=($(compgen -W "auto iommufd type1" -- "$cur"))
		return
		;;
	--recover)
		COMPREPLY=($(compgen -W "back stay reset $states" -- "$cur"))
		return
		;;
	--backend)
		COMPREPLY=($(compgen -W "auto dma-logging iommufd type1 all mig-v1" -- "$cur"))
		return
		;;
	--peer)
		COMPREPLY=($(compgen -W "$(_vfiomig_ctl_devices)" -- "$cur"))
		return
		;;
	--only)
		# a comma-separated list: complete its last name
		local done=${cur%"${cur##*,}"}
		COMPREPLY=($(compgen -P "$done" -W "$(_vfiomig_ctl_checks "${words[0]}")" \
			-- "${cur##*,}"))
		compopt -o nospace 2>/dev/null
		return
		;;
	--max-rounds | --step | --map | --range | --page-size | --report-page-size | --sleep)
		return
		;;
	esac

	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$global" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	local common="-h --help -v --verbose --sysfs-root --dev-root"
	local opts="" args=""
	case $cmd in
	list) opts="--json --iommu" ;;
	probe)
		opts="--json --iommu"
		((nargs == 0)) && args=$(_vfiomig_ctl_devices)
		;;
	state)
		opts="--json --iommu --path --combined --recover --allow-no-p2p"
		if ((nargs == 0)); then args=$(_vfiomig_ctl_devices); elif ((nargs == 1)); then args=$states; fi
		;;
	save)
		opts="-o --output -f --force --no-precopy --max-rounds --step --run --allow-no-p2p --progress --json --iommu"
		((nargs == 0)) && args=$(_vfiomig_ctl_devices)
		;;
	load)
		opts="-i --input -f --force --run --verify-only --allow-no-p2p --progress --json --iommu"
		((nargs == 0)) && args=$(_vfiomig_ctl_devices)
		;;
	migrate)
		opts="-f --force --no-precopy --max-rounds --step --stop --allow-no-p2p --progress --json --iommu"
		((nargs < 2)) && args=$(_vfiomig_ctl_devices)
		;;
	dirty)
		opts="--map --range --page-size --report-page-size --backend --sleep --wait --no-clear --json --iommu"
		args="$(_vfiomig_ctl_devices) start report stop"
		;;
	conform)
		opts="--peer --only --json --iommu"
		((nargs == 0)) && args=$(_vfiomig_ctl_devices)
		;;
	devlink)
		opts="--json"
		case $nargs in
		1) args="migratable" ;;
		2) args="on off" ;;
		esac
		;;
	region)
		opts="--json --iommu"
		((nargs == 0)) && args=$(_vfiomig_ctl_devices)
		;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts $common" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "$args" -- "$cur"))
	fi
} &&
	complete -F _vfiomig_ctl vfiomig-ctl

# ex: filetype=sh
