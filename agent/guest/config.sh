# The job config: a small raw disk (no filesystem) written by the host, text lines "KEY VALUE",
# first line "NIMBUS1", last line "end". Arguments and environment entries are base64 so that any
# byte is safe; nothing from the config is ever evaluated by the shell.

CONFIG=/run/nimbus-config

# read_config DEV: copy the config to $CONFIG and load its scalar fields with shell builtins only
# (every process costs milliseconds under software emulation). Reads bypass the guest's page cache
# (iflag=direct): the host may have rewritten the disk since the guest last looked. Most configs fit
# in 4 KiB; the whole 1 MiB disk is read only when the end marker is not in the first block. The
# zero padding after "end" is never parsed.
read_config() {
  load_config "$1" 4096 1 || load_config "$1" 65536 16 ||
    { [ "$(cmdline_arg nimbus.config disk)" = mmds ] && load_mmds_config; }
}

load_config() {
  dd if="$1" of=$CONFIG bs="$2" count="$3" iflag=direct 2>/dev/null
  parse_config
}

# parse_config: the scalar fields of $CONFIG; fails unless it is a whole config (NIMBUS1 … end).
parse_config() {
  CFG_OK=; CFG_NAME=; CFG_MAC=; CFG_IP=; CFG_GW=; CFG_DNS=; CFG_UID=1000; CFG_DOCKER=; CFG_TIME=; CFG_MIRROR=
  while read -r k v; do
    case "$k" in
      NIMBUS1) CFG_OK=1 ;;
      end) [ -n "$CFG_OK" ] && return 0 ;;
      name) CFG_NAME=$v ;; mac) CFG_MAC=$v ;; ip) CFG_IP=$v ;;
      gw) CFG_GW=$v ;; dns) CFG_DNS=$v ;; uid) CFG_UID=$v ;; docker) CFG_DOCKER=$v ;; time) CFG_TIME=$v ;;
      mirror) CFG_MIRROR=$v ;;
    esac
  done < $CONFIG
  return 1
}

# wait_for_config (mode wait): poll the config disk until the host has put a job there.
wait_for_config() {
  ctl W "waiting"
  until [ "$(dd if="$CFG_DEV" bs=512 count=1 iflag=direct 2>/dev/null | head -c 7)" = NIMBUS1 ]; do
    sleep 0.02
  done
}

# wait_for_doorbell (modes warm, template): sleep in a blocking read of the console until the host
# writes a line there (it does so once the config disk holds the job), so an idle warm VM costs no
# CPU. A ring that got lost is covered by looking at the disk every second. The word "warm" asks
# for another warm-up first (a VM just restored from a snapshot), answered by a new W record.
wait_for_doorbell() {
  ctl W "waiting"
  while :; do
    word=
    read -r -t 1 word <&3
    [ "$word" = warm ] && { warm_up; ctl W "waiting"; continue; }
    [ -n "$word" ] && mark bell
    read_config "$CFG_DEV" && return
  done
}
