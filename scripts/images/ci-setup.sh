#!/bin/sh
# Finishes the ci image after mmdebstrap, on the host; $1 is the image's root directory.
# The job user (uid 1000, as the guest init runs jobs), passwordless sudo, the workspace the runner
# expects, and no daemons started at boot by the image itself (the guest init decides).
set -eu
R=$1
grep -q '^runner:' "$R/etc/group" || echo 'runner:x:1000:' >> "$R/etc/group"
grep -q '^runner:' "$R/etc/passwd" || echo 'runner:x:1000:1000:runner:/home/runner:/bin/bash' >> "$R/etc/passwd"
grep -q '^runner:' "$R/etc/shadow" || echo 'runner:*:19000:0:99999:7:::' >> "$R/etc/shadow"
# Supplementary groups: sudo and docker (the guest init runs jobs as uid:gid; sudo and dockerd's socket group check these).
for g in sudo docker; do
  awk -F: -v OFS=: -v g="$g" '$1 == g && $4 !~ /(^|,)runner(,|$)/ { $4 = ($4 == "" ? "runner" : $4 ",runner") } 1' "$R/etc/group" > "$R/etc/group.new"
  cat "$R/etc/group.new" > "$R/etc/group" && rm "$R/etc/group.new"
done
mkdir -p "$R/home/runner/work" "$R/etc/sudoers.d"
chown -R 1000:1000 "$R/home/runner"
chmod 755 "$R/home/runner"
printf 'runner ALL=(ALL:ALL) NOPASSWD: ALL\nDefaults:runner !requiretty\n' > "$R/etc/sudoers.d/runner"
chmod 0440 "$R/etc/sudoers.d/runner"
# No hostname lookups for sudo's "unable to resolve host" (the guest sets the hostname per job).
printf '127.0.0.1 localhost\n::1 localhost\n' > "$R/etc/hosts"
echo nimbus-ci > "$R/etc/nimbus-image"
# Smaller image: no apt caches or lists, no man pages or docs (dpkg excludes most at install).
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"* "$R/usr/share/man" "$R/usr/share/doc"
