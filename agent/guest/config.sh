# The job config: a small raw disk (no filesystem) written by the host, text lines "KEY VALUE",
# first line "NIMBUS1", last line "end". Arguments and environment entries are base64 so that any
# byte is safe; nothing from the config is ever evaluated by the shell.

CONFIG=/run/nimbus-config

# read_config DEV: copy the config to $CONFIG and load its scalar fields with shell builtins only
# (every process costs milliseconds under software emulation). Fails without the magic and "end".
read_config() {
  mkdir -p /run
  blockdev --flushbufs "$1" 2>/dev/null
  # Most configs fit in 64 KiB; the whole 1 MiB disk is read only when the end marker is not there.
  dd if="$1" bs=65536 count=1 2>/dev/null | tr -d '\000' > $CONFIG
  case "$(tail -c 4 $CONFIG)" in end) ;; *) dd if="$1" bs=65536 count=16 2>/dev/null | tr -d '\000' > $CONFIG ;; esac
  CFG_OK=; CFG_NAME=; CFG_MAC=; CFG_IP=; CFG_GW=; CFG_DNS=; CFG_UID=1000
  while read -r k v; do
    case "$k" in
      NIMBUS1) CFG_OK=1 ;;
      end) [ -n "$CFG_OK" ] && return 0 ;;
      name) CFG_NAME=$v ;; mac) CFG_MAC=$v ;; ip) CFG_IP=$v ;;
      gw) CFG_GW=$v ;; dns) CFG_DNS=$v ;; uid) CFG_UID=$v ;;
    esac
  done < $CONFIG
  return 1
}

# wait_for_config: snapshot templates boot without a job; after restore the host has put the job's
# config disk in place, so the first poll finds it.
wait_for_config() {
  frame W "waiting"
  while :; do
    blockdev --flushbufs "$CFG_DEV" 2>/dev/null
    [ "$(head -c 7 "$CFG_DEV")" = NIMBUS1 ] && read_config "$CFG_DEV" && return
    sleep 0.02
  done
}
