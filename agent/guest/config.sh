# The job config: a small raw disk (no filesystem) written by the host, text lines "KEY VALUE",
# first line "NIMBUS1", last line "end". Arguments and environment entries are base64 so that any
# byte is safe; nothing from the config is ever evaluated by the shell.

CONFIG=/run/nimbus-config

# read_config DEV: copy the config to $CONFIG and load its scalar fields. Fails without the magic.
read_config() {
  mkdir -p /run
  blockdev --flushbufs "$1" 2>/dev/null
  dd if="$1" bs=4096 count=256 2>/dev/null | tr -d '\000' | sed -n '1,/^end$/p' > $CONFIG
  [ "$(head -n1 $CONFIG)" = NIMBUS1 ] || return 1
  grep -q '^end$' $CONFIG || return 1
  CFG_NAME=$(config_get name); CFG_MAC=$(config_get mac); CFG_IP=$(config_get ip)
  CFG_GW=$(config_get gw); CFG_DNS=$(config_get dns); CFG_UID=$(config_get uid)
  CFG_UID=${CFG_UID:-1000}
}

# config_get KEY: first value of KEY.
config_get() {
  sed -n "s/^$1 //p" $CONFIG | head -n1
}

# config_list KEY: every value of KEY, base64-decoded, one per line (for display only).
config_count() {
  grep -c "^$1 " $CONFIG
}

# wait_for_config: snapshot templates boot without a job; after restore the host has put the job's
# config disk in place, so the first poll finds it.
wait_for_config() {
  frame W "waiting"
  while ! read_config "$CFG_DEV"; do sleep 0.02; done
}
