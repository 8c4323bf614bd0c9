#!/bin/sh
# destination_ok.sh with one deliberate protocol bug, chosen by $BUG, applied to its `write` output.
here=$(dirname "$0")
if [ "$1" != write ]; then exec sh "$here/destination_ok.sh" "$@"; fi
case $BUG in
  drop_state) sh "$here/destination_ok.sh" "$@" | awk 'NR != 2' ;;  # forgets the 2nd state
  duplicate_state) sh "$here/destination_ok.sh" "$@" | awk 'NR == 1 { print } { print }' ;;  # echoes the 1st twice
  strip_keys) sh "$here/destination_ok.sh" "$@" | sed 's/,"_generation":[0-9]*//' ;;  # loses the engine's key
  reorder) sh "$here/destination_ok.sh" "$@" | awk 'NR == 1 { held = $0; next } { print } NR == 2 { print held }' ;;
  invented_state) sh "$here/destination_ok.sh" "$@"
    echo '{"type":"state","state":{"state_type":"stream","stream":"conformance_customers","data":{"made":"up"}}}' ;;
  *) echo "destination_broken.sh: set BUG to one of the cases in this script" >&2; exit 2 ;;
esac
