"""An Airbyte destination for engine tests (stdlib only), per the Airbyte protocol: no PyPI Airbyte
destination is light enough for the test suite (docs/third-party.md).

    fake_airbyte_destination.py write --config C --catalog K

Config: {"db": path}. K must be a ConfiguredAirbyteCatalog; a RECORD of a stream outside it is an
error (exit 1). RECORDs are buffered; at each STATE they are written to the JSON file `db`
({stream: {id: data}}, plus "catalog": the streams it was given) and the STATE is echoed as received,
as Airbyte destinations do once everything before a state is persisted. Other messages are ignored.
"""
import json
import sys


def arg(name):
    value = sys.argv[sys.argv.index(name) + 1]
    return json.loads(value) if value.lstrip().startswith("{") else json.load(open(value))


def main():
    assert sys.argv[1] == "write", sys.argv
    config, catalog = arg("--config"), arg("--catalog")
    streams = {s["stream"]["name"]: s for s in catalog["streams"]}
    assert all({"sync_mode", "destination_sync_mode"} <= set(s) for s in streams.values()), catalog
    try:
        db = json.load(open(config["db"]))
    except FileNotFoundError:
        db = {}
    db["catalog"] = sorted(streams)
    buffered = []
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "RECORD":
            if msg["record"]["stream"] not in streams:
                print(json.dumps({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0, "error": {
                    "message": f"stream {msg['record']['stream']} is not in the catalog",
                    "failure_type": "config_error"}}}), flush=True)
                sys.exit(1)
            buffered.append(msg["record"])
        elif msg["type"] == "STATE":
            for rec in buffered:
                db.setdefault(rec["stream"], {})[str(rec["data"]["id"])] = rec["data"]
            buffered = []
            with open(config["db"], "w") as f:
                json.dump(db, f)
            print(json.dumps(msg), flush=True)
    sys.exit(0)


main()
