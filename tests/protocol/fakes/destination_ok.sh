#!/bin/sh
# A stripe-sync destination in POSIX shell: it "commits" nothing and echoes every state line unchanged,
# which is what `python -m protocol.conformance destination` checks. Usage: destination_ok.sh COMMAND [--config C]
cmd=$1; [ $# -gt 0 ] && shift
config=""
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --catalog) shift 2 ;;
    *) echo "destination_ok.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

usage_error() {
  printf '{"type":"trace","trace":{"trace_type":"error","emitted_at":%s000,"error":{"scope":"global","code":"invalid_config","retryable":false,"message":"%s"}}}\n' "$(date +%s)" "$1"
  echo "destination_ok.sh: $1" >&2
  exit 2
}

need_config() {
  case $config in
    "") usage_error "--config is required" ;;
    "{"*) ;;
    *) [ -f "$config" ] || usage_error "--config: file not found: $config" ;;
  esac
}

case $cmd in
  spec)
    echo '{"type":"spec","spec":{"protocol_version":"1","connector":{"name":"destination-shell","version":"0.1.0"},"config_schema":{"type":"object","properties":{"url":{"type":"string","secret":true}}}}}'
    ;;
  check)
    need_config
    echo '{"type":"connection_status","connection_status":{"status":"succeeded","message":"ok"}}'
    ;;
  write)
    need_config
    while IFS= read -r line; do
      case $line in
        '{"type":"state"'*) printf '%s\n' "$line" ;;  # a real destination commits first, then echoes
      esac
    done
    ;;
  *)
    echo "Error: No such command '$cmd'." >&2
    exit 2
    ;;
esac
