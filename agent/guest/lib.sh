# Shared helpers for the guest init: framing, kernel command line, failure and power-off.

CONSOLE=/dev/console

# frame TAG TEXT: one framed record on the console.
frame() {
  printf '\036%s%s\n' "$1" "$2" > $CONSOLE
}

say() { frame S "$*"; }

# mark STAGE: a timing record (guest uptime, builtins only) for the host's boot breakdown.
mark() {
  read -r up _ < /proc/uptime
  printf '\036T%s %s\n' "$up" "$1" > $CONSOLE
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
}

# finish CODE: report the exit code, flush disks and power off (the VMM exits). Firecracker
# has no ACPI power-off: its guests pass nimbus.halt=reboot (with reboot=k) and the VMM exits.
finish() {
  frame X "$1"
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
