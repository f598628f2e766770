# Shared helpers for the guest init: framing, kernel command line, failure and power-off.
#
# Two channels to the host: the console (job output, init messages, kernel lines) and the control
# channel on fd 3 (control records: waiting, timing marks, the exit code; the host's doorbell). The
# control channel is QEMU's virtio-serial port "nimbus.ctl" when there is one, else the console
# itself (Firecracker). The job never holds fd 3.

CONSOLE=/dev/console

# frame TAG TEXT: one framed record on the console.
frame() {
  printf '\036%s%s\n' "$1" "$2" > $CONSOLE
}

# say TEXT: an init message (S record) on the console.
say() {
  frame S "$*"
}

# ctl TAG TEXT: one framed record on the control channel.
ctl() {
  printf '\036%s%s\n' "$1" "$2" >&3
}

# open_control: fd 3 becomes the virtio-serial port named nimbus.ctl when the VM has a virtio
# console device (QEMU); its ports are announced by the host shortly after the module loads, so
# wait for it a little. Writes to the port wait until the host has connected to its socket.
open_control() {
  has=
  for d in /sys/bus/virtio/devices/*/device; do [ "$(cat "$d" 2>/dev/null)" = 0x0003 ] && has=1; done
  [ -n "$has" ] || return 0
  i=0
  while [ $i -lt 300 ]; do
    for n in /sys/class/virtio-ports/*/name; do
      [ -f "$n" ] && [ "$(cat "$n")" = nimbus.ctl ] || continue
      p=${n%/name}
      [ -c /dev/${p##*/} ] && { exec 3<>/dev/${p##*/}; return 0; }
    done
    sleep 0.01; i=$((i + 1))
  done
  say "init: no control port; control records go to the console"
}

# mark STAGE: a timing record (guest uptime, builtins only) for the host's boot breakdown.
mark() {
  read -r up _ < /proc/uptime
  ctl T "$up $1"
}

# cmdline_arg KEY DEFAULT: value of KEY=VALUE on the kernel command line.
cmdline_arg() {
  for w in $(cat /proc/cmdline); do
    case "$w" in "$1="*) echo "${w#*=}"; return ;; esac
  done
  echo "$2"
}

mount_kernel_fs() {
  mount -t proc proc /proc
  mount -t sysfs sys /sys
  mount -t devtmpfs dev /dev 2>/dev/null
  stty -F $CONSOLE -opost -echo 2>/dev/null
  exec 3<>$CONSOLE
}

# finish CODE: report the exit code, flush disks and power off (the VMM exits). Firecracker
# has no ACPI power-off: its guests pass nimbus.halt=reboot (with reboot=k) and the VMM exits.
finish() {
  ctl X "$1"
  sync
  [ "$(cmdline_arg nimbus.halt poweroff)" = reboot ] && reboot -f
  poweroff -f
  sleep 5
  reboot -f
}

# fail MESSAGE: report, with the kernel's last words for diagnosis, and power off with status 125.
fail() {
  say "init: $*"
  dmesg 2>/dev/null | tail -n 15 | while IFS= read -r l; do say "dmesg: $l"; done
  finish 125
}
