# Docker for jobs that ask for it (label docker, config line "docker 1"), in images that carry it
# (the ci image): dockerd, which starts its own containerd, runs as root in the job's root before
# the job starts, with its data-root on the per-job disk itself (overlay2 cannot sit on the
# overlay the job's root is), and cgroup2 mounted. Jobs without docker start nothing.

start_docker() {
  [ -x $R/usr/sbin/dockerd ] || { say "docker: this image has no dockerd (docker jobs need the ci image)"; return 1; }
  mkdir -p /mnt/job/docker $R/var/lib/docker $R/sys/fs/cgroup $R/var/log
  mount --bind /mnt/job/docker $R/var/lib/docker || return 1
  mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
  chroot $R /usr/bin/env -i PATH=$DEFAULT_PATH /usr/sbin/dockerd --data-root /var/lib/docker \
    < /dev/null > $R/var/log/dockerd.log 2>&1 3>&- &
  i=0
  while [ $i -lt 1200 ]; do
    [ -S $R/run/docker.sock ] && { mark docker; return 0; }
    sleep 0.1; i=$((i + 1))
  done
  say "docker: dockerd did not start within 120 s"
  tail -n 8 $R/var/log/dockerd.log | while IFS= read -r l; do say "dockerd: $l"; done
  return 1
}
