# Docker for jobs that ask for it (label docker, config line "docker 1"), in images that carry it
# (the ci image): dockerd, which starts its own containerd, runs as root in the job's root, with its
# data-root on the per-job disk itself (overlay2 cannot sit on the overlay the job's root is), and
# cgroup2 mounted. Jobs without docker start nothing.
#
# When: a cold docker job starts dockerd after its network is set up (setup_guest). A warm or
# template VM of the docker shape (kernel argument nimbus.docker=1) starts it before it waits, so a
# job taken from the pool or restored from the snapshot finds a ready daemon; what then depends on
# the job is applied to the running daemon (docker_for_job): the gateway (the agent's host, where
# Nimbus's registry listens over plain HTTP) becomes an insecure registry by a configuration reload
# (SIGHUP), and the clock was set from the config before (setup_guest). The daemon's own bridge
# (docker0) and its iptables rules do not depend on the guest's address, so published ports work
# once eth0 gets its address after a restore.

DOCKERD_PID=
DOCKERD_CONFIG=/etc/nimbus/dockerd.json

# dockerd_config: the daemon's settings file (reloadable ones only, so a running daemon takes them on
# SIGHUP). With a mirror (config "mirror URL": Nimbus's registry on the gateway), Docker Hub pulls ask
# it first: the registry's pull-through cache serves what any earlier job pulled (the daemon falls back
# to Docker Hub itself when the mirror has no answer).
dockerd_config() {
  mkdir -p $R/etc/nimbus
  if [ -n "$CFG_GW" ]; then
    mirrors=
    [ -n "$CFG_MIRROR" ] && mirrors=$(printf ', "registry-mirrors": ["%s"]' "$CFG_MIRROR")
    printf '{"insecure-registries": ["%s/32"]%s}\n' "$CFG_GW" "$mirrors" > $R$DOCKERD_CONFIG
  else
    echo '{}' > $R$DOCKERD_CONFIG
  fi
}

start_docker() {
  [ -n "$DOCKERD_PID" ] && { docker_for_job; return; }
  [ -x $R/usr/sbin/dockerd ] || { say "docker: this image has no dockerd (docker jobs need the ci image)"; return 1; }
  mkdir -p /mnt/job/docker $R/var/lib/docker $R/sys/fs/cgroup $R/var/log
  mount --bind /mnt/job/docker $R/var/lib/docker || return 1
  mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
  dockerd_config
  chroot $R /usr/bin/env -i PATH=$DEFAULT_PATH /usr/sbin/dockerd --data-root /var/lib/docker \
    --config-file $DOCKERD_CONFIG < /dev/null > $R/var/log/dockerd.log 2>&1 3>&- &
  DOCKERD_PID=$!
  i=0
  while [ $i -lt 1200 ]; do
    [ -S $R/run/docker.sock ] && { mark docker; return 0; }
    kill -0 $DOCKERD_PID 2>/dev/null || break
    sleep 0.1; i=$((i + 1))
  done
  say "docker: dockerd did not start within 120 s"
  tail -n 8 $R/var/log/dockerd.log | while IFS= read -r l; do say "dockerd: $l"; done
  return 1
}

# docker_ready: the daemon answers (it serves its socket's queued connections once initialised).
docker_ready() {
  chroot $R /usr/bin/docker info > /dev/null 2>&1
}

# docker_for_job: a daemon started before the job (warm, restored) takes the job's settings: with a
# gateway, the settings file is rewritten and dockerd reloads it; this waits for its "Reloaded
# configuration" line (up to 30 s) so the job's first pull sees the new settings.
docker_for_job() {
  kill -0 "$DOCKERD_PID" 2>/dev/null || { say "docker: the daemon started before the job is gone"; return 1; }
  [ -n "$CFG_GW" ] || { mark docker; return 0; }
  before=$(grep -c 'Reloaded configuration' $R/var/log/dockerd.log)
  dockerd_config
  kill -HUP "$DOCKERD_PID"
  i=0
  while [ $i -lt 3000 ]; do
    [ "$(grep -c 'Reloaded configuration' $R/var/log/dockerd.log)" -gt "$before" ] && { mark docker; return 0; }
    sleep 0.01; i=$((i + 1))
  done
  say "docker: dockerd did not reload its configuration within 30 s"
  return 1
}
