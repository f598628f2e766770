# The job config from Firecracker's MMDS (V2), for VMs booted with nimbus.config=mmds: the host put
# the same text the config disk would hold, base64, at /nimbus/config. The guest reaches MMDS over
# eth0 with a link-local address it removes again once the config is read, and waits for the host
# to empty MMDS before the job can run.

MMDS_ADDR=${MMDS_ADDR:-169.254.169.254}
MMDS_PORT=${MMDS_PORT:-80}

# mmds_request METHOD PATH HEADER: the response body (HTTP/1.0: the server closes when done; the
# request side stays open a moment so busybox nc does not quit before the answer).
mmds_request() {
  { printf '%s %s HTTP/1.0\r\nHost: %s\r\n%s\r\n\r\n' "$1" "$2" "$MMDS_ADDR" "$3"; sleep 0.2; } |
    nc -w 3 "$MMDS_ADDR" "$MMDS_PORT" 2>/dev/null | sed '1,/^\r*$/d'
}

# load_mmds_config: fetch, decode into $CONFIG, parse. Link setup is skipped when MMDS_NO_LINK is
# set (tests run this against a stand-in MMDS on the host).
load_mmds_config() {
  if [ -z "$MMDS_NO_LINK" ]; then
    ip link set eth0 up && ip addr add 169.254.0.2/16 dev eth0 2>/dev/null
  fi
  token=$(mmds_request PUT /latest/api/token "X-metadata-token-ttl-seconds: 60")
  body=$(mmds_request GET /nimbus/config "X-metadata-token: $token")
  [ -z "$MMDS_NO_LINK" ] && ip addr del 169.254.0.2/16 dev eth0 2>/dev/null
  printf '%s' "$body" | tr -d '"\r\n ' | base64 -d > $CONFIG 2>/dev/null || return 1
  parse_config || return 1
  # The host empties MMDS once told the config was read (so the job cannot read it back), then
  # answers on the control channel.
  mark mmds
  read -r -t 5 _ <&3
  return 0
}
