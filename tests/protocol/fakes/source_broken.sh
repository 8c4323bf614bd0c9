#!/bin/sh
# source_ok.sh with one deliberate protocol bug, chosen by $BUG, applied to its `read` output.
# Each bug must make `python -m protocol.conformance source` fail with the right reason.
here=$(dirname "$0")
if [ "$BUG:$1" = "no_discover:discover" ]; then echo "Error: No such command 'discover'." >&2; exit 2; fi
if [ "$1" != read ]; then exec sh "$here/source_ok.sh" "$@"; fi
case $BUG in
  state_before_started)  # a checkpoint for customers before the stream started (so before its records)
    sh "$here/source_ok.sh" "$@" | awk 'NR == 1 { print; print "{\"type\":\"state\",\"state\":{\"state_type\":\"stream\",\"stream\":\"customers\",\"data\":{}}}"; next } { print }' ;;
  record_before_started)  # the started status of invoices comes after its record
    sh "$here/source_ok.sh" "$@" | awk '/"stream":"invoices","status":"started"/ { held = $0; next } { print } /"record":\{"stream":"invoices"/ { print held }' ;;
  missing_terminal)  # invoices never reports complete
    sh "$here/source_ok.sh" "$@" | grep -v '"stream":"invoices","status":"complete"' ;;
  duplicate_terminal)  # customers reports complete twice
    sh "$here/source_ok.sh" "$@" | awk '{ print } /"stream":"customers","status":"complete"/ { print }' ;;
  record_after_complete)  # a record of customers after its complete status
    sh "$here/source_ok.sh" "$@" | awk '{ print } /"stream":"customers","status":"complete"/ { print "{\"type\":\"record\",\"record\":{\"stream\":\"customers\",\"data\":{\"id\":\"cus_late\"},\"emitted_at\":1}}" }' ;;
  unknown_stream)  # one record for a stream that is not in the catalog
    sh "$here/source_ok.sh" "$@" | awk '/"type":"record"/ && !done { sub(/"stream":"customers"/, "\"stream\":\"ghosts\""); done = 1 } { print }' ;;
  catalog_not_first)  # a log line before the catalog
    echo '{"type":"log","log":{"level":"info","message":"starting"}}'
    sh "$here/source_ok.sh" "$@" ;;
  not_json)  # human text on stdout
    sh "$here/source_ok.sh" "$@" | awk 'NR == 3 { print "reading customers..." } { print }' ;;
  schema_violation)  # a record without emitted_at
    sh "$here/source_ok.sh" "$@" | awk '/"type":"record"/ && !done { sub(/,"emitted_at":[0-9]+/, ""); done = 1 } { print }' ;;
  no_discover)  # a source without discover (its read is fine)
    sh "$here/source_ok.sh" "$@" ;;
  secret_on_stderr)  # echoes its config (with the API key) on stderr
    sh "$here/source_ok.sh" "$@"; echo "source_broken.sh: config was $3" >&2 ;;
  secret_on_stdout)  # logs its config (with the API key) on stdout
    sh "$here/source_ok.sh" "$@"
    printf '{"type":"log","log":{"level":"debug","message":"config: %s"}}\n' "$(printf '%s' "$3" | sed 's/"/\\"/g')" ;;
  exit_1_without_error)  # fails without saying why on stdout
    sh "$here/source_ok.sh" "$@"; echo "source_broken.sh: something went wrong" >&2; exit 1 ;;
  global_error_exit_0)  # a global error, but exit code 0
    sh "$here/source_ok.sh" "$@"
    echo '{"type":"trace","trace":{"trace_type":"error","emitted_at":1,"error":{"scope":"global","code":"auth_failed","retryable":false,"message":"Invalid API key"}}}' ;;
  after_eof)  # something after an eof line
    sh "$here/source_ok.sh" "$@"
    echo '{"type":"eof","eof":{"status":"succeeded","has_more":false,"state":{"streams":{}},"progress":{"elapsed_ms":1,"record_count":4,"records_per_second":1.0,"streams":{}}}}'
    echo '{"type":"log","log":{"level":"info","message":"bye"}}' ;;
  hang)  # never finishes
    sh "$here/source_ok.sh" "$@"; sleep 30 ;;
  *) echo "source_broken.sh: set BUG to one of the cases in this script" >&2; exit 2 ;;
esac
