"""Test wrapper around a real source: passes its stdout through, then fails after N records.

    faulty_source.py FAULT N LOG COMMAND...

FAULT is `badline` (prints a line that is not JSON, then goes on), `crash` (SIGKILL of the source and
of itself) or `exit` (stops the source, exits with code 3). LOG gets every line passed on, in order,
so a test can tell which records came before which state. Stdlib only.
"""
import json
import os
import signal
import subprocess
import sys

fault, after, log_path, *command = sys.argv[1:]
child = subprocess.Popen(command, stdout=subprocess.PIPE, close_fds=False)  # keeps the /dev/fd/N args
records = 0
with open(log_path, "wb") as log:
    for line in child.stdout:
        try:
            records += json.loads(line).get("type") == "RECORD"
        except ValueError:
            pass
        if records > int(after):
            if fault == "badline":
                sys.stdout.buffer.write(b"<html>502 Bad Gateway</html>\n")
                sys.stdout.flush()
                after = str(10**9)
            elif fault == "crash":
                child.kill()
                os.kill(os.getpid(), signal.SIGKILL)
            else:
                child.kill()
                print("faulty_source: stopping with exit code 3", file=sys.stderr)
                sys.exit(3)
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
        log.write(line)
        log.flush()
sys.exit(child.wait())
