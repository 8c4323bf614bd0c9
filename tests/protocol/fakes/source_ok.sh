#!/bin/sh
# A complete stripe-sync source in POSIX shell: it passes `python -m protocol.conformance source`.
# It ignores --catalog/--state and always reads two tiny streams. Usage: source_ok.sh COMMAND [--config C]
cmd=$1; [ $# -gt 0 ] && shift
config=""
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --catalog|--state) shift 2 ;;
    *) echo "source_ok.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

usage_error() {  # exit 2 with a trace error on stdout and one line on stderr
  printf '{"type":"trace","trace":{"trace_type":"error","emitted_at":%s000,"error":{"scope":"global","code":"invalid_config","retryable":false,"message":"%s"}}}\n' "$(date +%s)" "$1"
  echo "source_ok.sh: $1" >&2
  exit 2
}

need_config() {  # --config is inline JSON ({...}) or the path of a JSON file
  case $config in
    "") usage_error "--config is required" ;;
    "{"*) ;;
    *) [ -f "$config" ] || usage_error "--config: file not found: $config" ;;
  esac
}

case $cmd in
  spec)
    echo '{"type":"spec","spec":{"protocol_version":"1","connector":{"name":"source-shell","version":"0.1.0"},"config_schema":{"type":"object","properties":{"api_key":{"type":"string","secret":true}}}}}'
    ;;
  check)
    need_config
    echo '{"type":"connection_status","connection_status":{"status":"succeeded","message":"ok"}}'
    ;;
  discover|read)
    need_config
    echo '{"type":"catalog","catalog":{"streams":[{"name":"customers","json_schema":{"type":"object"},"primary_key":[["id"]],"supports_time_range":true},{"name":"invoices","json_schema":{"type":"object"},"primary_key":[["id"]]}]}}'
    [ "$cmd" = discover ] && exit 0
    t=1700000000000
    echo "{\"type\":\"trace\",\"trace\":{\"trace_type\":\"stream_status\",\"emitted_at\":$t,\"stream_status\":{\"stream\":\"customers\",\"status\":\"started\",\"time_range\":{\"gte\":0,\"lt\":1700000000}}}}"
    for i in 1 2 3; do
      echo "{\"type\":\"record\",\"record\":{\"stream\":\"customers\",\"data\":{\"id\":\"cus_$i\"},\"emitted_at\":$t,\"updated_at\":1700000000}}"
    done
    echo '{"type":"state","state":{"state_type":"stream","stream":"customers","data":{"accounted_range":{"gte":0,"lt":1700000000},"remaining":[]}}}'
    echo "{\"type\":\"trace\",\"trace\":{\"trace_type\":\"stream_status\",\"emitted_at\":$t,\"stream_status\":{\"stream\":\"customers\",\"status\":\"complete\",\"range_complete\":{\"gte\":0,\"lt\":1700000000}}}}"
    echo "{\"type\":\"trace\",\"trace\":{\"trace_type\":\"stream_status\",\"emitted_at\":$t,\"stream_status\":{\"stream\":\"invoices\",\"status\":\"started\"}}}"
    echo "{\"type\":\"record\",\"record\":{\"stream\":\"invoices\",\"data\":{\"id\":\"in_1\"},\"emitted_at\":$t}}"
    echo '{"type":"state","state":{"state_type":"stream","stream":"invoices","data":{"done":true}}}'
    echo "{\"type\":\"trace\",\"trace\":{\"trace_type\":\"stream_status\",\"emitted_at\":$t,\"stream_status\":{\"stream\":\"invoices\",\"status\":\"complete\"}}}"
    echo '{"type":"state","state":{"state_type":"global","data":{"events_cursor":"evt_1"}}}'
    ;;
  *)
    echo "Usage: source_ok.sh spec|check|discover|read [--config C]" >&2
    echo "Error: No such command '$cmd'." >&2
    exit 2
    ;;
esac
