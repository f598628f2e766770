# Prepare the job's root (hostname, network, user, kernel filesystems) and run the job in it.

R=/newroot

# prepare_root: everything the job's root needs that does not depend on the job (kernel
# filesystems, busybox for as_job, the output fifos and their framers). Warm VMs do it before they
# wait, so a job taken from the pool (or restored from a snapshot) skips it.
prepare_root() {
  ip link set lo up
  mkdir -p $R/proc $R/sys $R/dev $R/tmp $R/run $R/etc $R/.nimbus
  mount -t proc proc $R/proc
  mount -t sysfs sys $R/sys
  mount -t devtmpfs dev $R/dev
  mkdir -p $R/dev/pts $R/dev/shm
  mount -t devpts devpts $R/dev/pts 2>/dev/null
  mount -t tmpfs shm $R/dev/shm
  chmod 1777 $R/tmp
  touch $R/.nimbus/busybox && mount --bind /bin/busybox $R/.nimbus/busybox
  mkfifo /run/out /run/err
  frame_stream O < /run/out & FRAMER_O=$!
  frame_stream E < /run/err & FRAMER_E=$!
}

# warm_up: run the job path once (config read, base64, chroot, setuid, env, sh) so its code is
# loaded (and, under software emulation, translated) before a job waits on it; then flush the job
# disk (a snapshot's copy of it must match what the guest has cached). A VM restored from a
# snapshot is asked to do it again (doorbell word "warm"): translations do not survive a restore.
warm_up() {
  CFG_UID=${CFG_UID:-1000}
  read_config "$CFG_DEV"
  b64 dHJ1ZQ== > /dev/null
  as_job env -i PATH=$DEFAULT_PATH /.nimbus/busybox sh -c 'cd / 2>/dev/null; exec "$@"' job true 2>/dev/null
  [ -n "$DOCKERD_PID" ] && docker_ready
  sync
}

# setup_guest: what depends on the job's config: hostname, network, the job's user.
setup_guest() {
  # The host's clock: a restored VM's stands at its snapshot's moment, and microvm has no RTC.
  [ -n "$CFG_TIME" ] && date -u -s "@$CFG_TIME" > /dev/null
  # The name resolves locally (as Debian's installer does with 127.0.1.1): sudo and others look it up.
  [ -n "$CFG_NAME" ] && { echo "$CFG_NAME" > /proc/sys/kernel/hostname; echo "$CFG_NAME" > $R/etc/hostname; echo "127.0.1.1 $CFG_NAME" >> $R/etc/hosts; }
  [ -n "$CFG_IP" ] && setup_net
  setup_names
  setup_user
  mount_extra
  [ "$CFG_DOCKER" = 1 ] && { start_docker || fail "docker: the job asked for docker and dockerd did not start"; }
}

# mount_extra: the job's read-only mounts (config lines "mount ID TARGET", e.g. the GitHub runner
# at /runner), each a disk found by its serial nimbus-ID, or by position after the three fixed
# disks where there are no serials (Firecracker: m0 is vdd).
mount_extra() {
  while read -r k id target && [ "$k" != end ]; do
    [ "$k" = mount ] || continue
    dev=$(disk_by_serial "nimbus-$id") || dev=/dev/vd$(echo defghijklmnopqrstuvwxyz | cut -c$((${id#m} + 1)))
    mkdir -p "$R$target"
    mount -t ext4 -o ro,noload "$dev" "$R$target" || fail "cannot mount disk $id at $target"
  done < $CONFIG
}

# setup_names: the config's "host IP NAME" lines go into the job root's /etc/hosts (a GitHub job's
# results host names, pointed at the agent's gateway); a "ca B64" line, a PEM certificate, is
# added to the system bundle (curl, git, Go) and kept at nimbus.crt (NODE_EXTRA_CA_CERTS names it).
setup_names() {
  while read -r k a b && [ "$k" != end ]; do
    case "$k" in
      host) echo "$a $b" >> $R/etc/hosts ;;
      ca)
        mkdir -p $R/usr/local/share/ca-certificates
        b64 "$a" > $R/usr/local/share/ca-certificates/nimbus.crt
        [ -f $R/etc/ssl/certs/ca-certificates.crt ] && b64 "$a" >> $R/etc/ssl/certs/ca-certificates.crt ;;
    esac
  done < $CONFIG
}

setup_net() {
  dev=eth0
  [ -n "$CFG_MAC" ] && ip link set $dev address "$CFG_MAC"
  ip addr add "$CFG_IP" dev $dev && ip link set $dev up
  [ -n "$CFG_GW" ] && ip route add default via "$CFG_GW"
  [ -n "$CFG_DNS" ] && echo "nameserver $CFG_DNS" > $R/etc/resolv.conf
}

# setup_user: the job runs as $CFG_UID; give it a passwd entry and a home if the image has none.
setup_user() {
  JOB_HOME=
  while IFS=: read -r _u _p uid _g _c home _s; do
    [ "$uid" = "$CFG_UID" ] && { JOB_HOME=${home:-/}; break; }
  done < $R/etc/passwd 2>/dev/null
  if [ -z "$JOB_HOME" ]; then
    JOB_HOME=/home/runner
    echo "runner:x:$CFG_UID:$CFG_UID:runner:$JOB_HOME:/bin/sh" >> $R/etc/passwd
    echo "runner:x:$CFG_UID:" >> $R/etc/group
  fi
  [ -d "$R$JOB_HOME" ] || { mkdir -p "$R$JOB_HOME" && chown "$CFG_UID:$CFG_UID" "$R$JOB_HOME"; }
}

# frame_stream TAG < fifo: each line of the stream becomes one framed record, flushed at once.
frame_stream() {
  awk -v tag="$1" '{ printf "\036%s%s\n", tag, $0; fflush() }' > $CONSOLE 3>&-
}

DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# as_job APPLET ARGS...: run a busybox applet chrooted in the job's root as the job's user
# (start-stop-daemon is busybox's numeric setuid+initgroups+exec; -n names no running process).
as_job() {
  chroot $R /.nimbus/busybox start-stop-daemon -S -c "$CFG_UID:$CFG_UID" -n nimbus-none \
    -a /.nimbus/busybox -- "$@" 3>&-
}

# run_job: env -i with the defaults, then the job's env entries (later ones win), then its argv.
# Output goes through the two fifos to the framers (prepare_root); JOB_EXIT is the job's exit status.
run_job() {
  set -- PATH=$DEFAULT_PATH HOME="$JOB_HOME" USER=runner
  while read -r k v && [ "$k" != end ]; do [ "$k" = env ] && set -- "$@" "$(b64 "$v")"; done < $CONFIG
  set -- "$@" /.nimbus/busybox sh -c 'cd "$HOME" 2>/dev/null; exec "$@"' job
  while read -r k v && [ "$k" != end ]; do [ "$k" = arg ] && set -- "$@" "$(b64 "$v")"; done < $CONFIG
  mark exec
  as_job env -i "$@" < /dev/null > /run/out 2> /run/err
  JOB_EXIT=$?
  # Whatever the job left behind dies with it; then the framers see end of file.
  as_job kill -KILL -1 2>/dev/null
  wait $FRAMER_O $FRAMER_E 2>/dev/null
}

# b64 VALUE: decoded, keeping trailing newlines.
b64() {
  x=$(printf '%s' "$1" | base64 -d; echo .)
  printf '%s' "${x%.}"
}
