# Modules and disks. Debian's cloud kernel builds virtio as modules; the initramfs carries them.
# Disks are found by their virtio serial (QEMU sets it); without one, by position
# (Firecracker attaches rootfs, job disk, config disk in that order).

MODULES="virtio_ring virtio virtio_mmio virtio_blk virtio_console failover net_failover virtio_net overlay virtio-rng"

# load_modules: insmod does not read module parameters from the kernel command line (modprobe
# does), so virtio_mmio.device=... entries (Firecracker's device list) are passed on by hand.
load_modules() {
  for m in $MODULES; do
    [ -f /lib/modules/$m.ko ] || continue
    if [ $m = virtio_mmio ]; then
      insmod /lib/modules/$m.ko $(tr ' ' '\n' < /proc/cmdline | sed -n 's/^virtio_mmio\.//p') 2>/dev/null
    else
      insmod /lib/modules/$m.ko 2>/dev/null
    fi
  done
}

# load_image_modules: the modules an image asks for (the ci image: what dockerd needs), listed in
# load order in its /etc/nimbus/modules as paths of .ko files in the image, built for this kernel
# (agent/images/kernel-modules.ts). An image built for another kernel is said so, not fatal.
load_image_modules() {
  L=/mnt/lower
  [ -f $L/etc/nimbus/modules ] || return 0
  [ -d $L/lib/modules/$(uname -r) ] || { say "image modules are not for kernel $(uname -r): not loaded"; return 0; }
  while read -r ko; do
    [ -n "$ko" ] && insmod "$L/$ko" 2>/dev/null
  done < $L/etc/nimbus/modules
  mark modules
}

# disk_by_serial SERIAL: /dev/vdX whose serial is SERIAL.
disk_by_serial() {
  for s in /sys/block/vd*/serial; do
    [ -f "$s" ] || continue
    [ "$(cat "$s")" = "$1" ] && { d=${s%/serial}; echo /dev/${d##*/}; return 0; }
  done
  return 1
}

# find_disks: sets ROOT_DEV, JOB_DEV, CFG_DEV (waits up to ~5 s for the devices to appear).
find_disks() {
  i=0
  while [ $i -lt 100 ]; do
    [ -b /dev/vda ] && [ -b /dev/vdb ] && [ -b /dev/vdc ] && break
    sleep 0.05; i=$((i + 1))
  done
  ROOT_DEV=$(disk_by_serial nimbus-root || echo /dev/vda)
  JOB_DEV=$(disk_by_serial nimbus-job || echo /dev/vdb)
  CFG_DEV=$(disk_by_serial nimbus-config || echo /dev/vdc)
  [ -b "$ROOT_DEV" ] && [ -b "$JOB_DEV" ] && [ -b "$CFG_DEV" ]
}

mount_lower() {
  mkdir -p /mnt/lower /mnt/job /newroot
  mount -t ext4 -o ro,noload "$ROOT_DEV" /mnt/lower 2>/dev/null || mount -o ro "$ROOT_DEV" /mnt/lower
}

# mount_root: the job disk holds the overlay's upper layer, so every write of the job lands on it.
mount_root() {
  blockdev --flushbufs "$JOB_DEV" 2>/dev/null
  mount -t ext4 "$JOB_DEV" /mnt/job || return 1
  mkdir -p /mnt/job/upper /mnt/job/work
  mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/job/upper,workdir=/mnt/job/work /newroot
}
