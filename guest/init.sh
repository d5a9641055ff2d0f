#!/bin/sh
# ringside guest: /init of the initramfs that guest/image.ts builds. Runs as
# pid 1 under busybox sh, mounts the share at /mnt, runs one command, reports
# its status on the console and powers off.
#
# Per-run input, from a small cpio archive that guest/run.ts appends:
#   /ringside/run.conf  RS_MODE (virtiofs|9p|none) RS_TAG RS_MOPTS RS_NONCE RS_CWD
#   /ringside/cmd.sh    the command, run as `sh /ringside/cmd.sh`
# Channels: ttyS0 is the console (kernel log and the markers below), ttyS1
# carries the command's stdout and ttyS2 its stderr.
#   ===RINGSIDE-BEGIN <nonce> uptime=<s>===
#   ===RINGSIDE-END <nonce> rc=<n> uptime=<s>===
#   ===RINGSIDE-ERROR <nonce> <reason>===
PATH=/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin
HOME=/root
export PATH HOME

mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/null >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=755 run /run
mkdir -p /dev/pts /dev/shm
mount -t devpts pts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
hostname ringside-guest
# keep kernel chatter off the console from here on
echo 1 >/proc/sys/kernel/printk

RS_MODE=none RS_TAG=none RS_MOPTS= RS_NONCE=0 RS_CWD=/mnt
. /ringside/run.conf

uptime_s() {
	read -r up _ </proc/uptime
	echo "$up"
}

power_off() {
	cd /
	sync
	[ "$RS_MODE" = none ] || umount /mnt 2>/dev/null || umount -l /mnt 2>/dev/null
	# tty output is buffered in the kernel: wait until the UARTs sent it all
	rs-drain /dev/ttyS1 /dev/ttyS2 /dev/console
	poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 5
	exit 1
}

harness_error() {
	echo "===RINGSIDE-ERROR $RS_NONCE $*==="
	dmesg | tail -n 25
	power_off
}

insmod_group() {
	[ -f "/etc/ringside/modules-$1" ] || harness_error "no module list $1"
	while read -r ko; do
		[ -n "$ko" ] || continue
		name=${ko%.ko}
		[ -d "/sys/module/$name" ] && continue
		insmod "/lib/modules/$ko" || harness_error "insmod $ko failed"
	done <"/etc/ringside/modules-$1"
}

case $RS_MODE in
virtiofs)
	insmod_group base
	insmod_group virtiofs
	set -- -t virtiofs
	[ -z "$RS_MOPTS" ] || set -- "$@" -o "$RS_MOPTS"
	;;
9p)
	insmod_group base
	insmod_group 9p
	set -- -t 9p -o "trans=virtio,version=9p2000.L,msize=512000${RS_MOPTS:+,$RS_MOPTS}"
	;;
none)
	set -- -t tmpfs -o "mode=1777${RS_MOPTS:+,$RS_MOPTS}"
	;;
*)
	harness_error "unknown share mode $RS_MODE"
	;;
esac

mkdir -p /mnt
tries=0
until mount "$@" "$RS_TAG" /mnt; do
	tries=$((tries + 1))
	[ $tries -lt 5 ] || harness_error "mount $* $RS_TAG /mnt failed"
	sleep 0.1
done

for tty in /dev/ttyS1 /dev/ttyS2; do
	stty -F $tty raw -echo || harness_error "cannot set $tty to raw mode"
done
cd "$RS_CWD" || harness_error "no directory $RS_CWD in the guest"

echo "===RINGSIDE-BEGIN $RS_NONCE uptime=$(uptime_s)==="
sh /ringside/cmd.sh </dev/null >/dev/ttyS1 2>/dev/ttyS2
rc=$?
echo "===RINGSIDE-END $RS_NONCE rc=$rc uptime=$(uptime_s)==="
power_off
