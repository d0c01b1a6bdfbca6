#!/usr/bin/env python3
"""Runs one SQL statement against Tongban's Arrow Flight SQL endpoint with the ADBC Flight
SQL driver (a real third-party client, as a department system would use), and prints one JSON
object on stdout:

    {"ok": true, "columns": [...], "rows": [[...], ...], "row_count": N}
    {"ok": false, "error": "<class>: <message>"}

A refused query is a normal outcome (exit 0); the caller reads the JSON. Exit 2 means the
client could not run at all (packages missing: tests/run.sh installs them).

The purpose travels as gRPC metadata. Metadata is ASCII, so every value is percent-encoded
as UTF-8, which the gateway decodes (the legal basis is usually Chinese).
"""

import argparse
import json
import sys
import urllib.parse

try:
    import adbc_driver_flightsql
    import adbc_driver_flightsql.dbapi
    import adbc_driver_manager
except ImportError as e:  # pragma: no cover - reported to the Rust test
    print(
        f"missing Python package ({e}); tests/run.sh installs them: "
        "python3 -m pip install adbc-driver-flightsql pyarrow",
        file=sys.stderr,
    )
    sys.exit(2)

OPTIONS = adbc_driver_flightsql.DatabaseOptions


def read(path):
    with open(path, encoding="ascii") as f:
        return f.read()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--uri", required=True, help="grpc+tls://host:port")
    p.add_argument("--ca", required=True, help="PEM file of the hub's CA")
    p.add_argument("--cert", help="PEM client certificate (mTLS)")
    p.add_argument("--key", help="PEM client private key (mTLS)")
    p.add_argument("--token", help="bearer token, sent as `authorization: Bearer …`")
    p.add_argument("--matter")
    p.add_argument("--case-id")
    p.add_argument("--legal-basis")
    p.add_argument("--sql", required=True)
    args = p.parse_args()

    db_kwargs = {OPTIONS.TLS_ROOT_CERTS.value: read(args.ca)}
    if args.cert or args.key:
        db_kwargs[OPTIONS.MTLS_CERT_CHAIN.value] = read(args.cert)
        db_kwargs[OPTIONS.MTLS_PRIVATE_KEY.value] = read(args.key)
    if args.token:
        db_kwargs[OPTIONS.AUTHORIZATION_HEADER.value] = f"Bearer {args.token}"
    headers = {
        "x-tongban-matter": args.matter,
        "x-tongban-case-id": args.case_id,
        "x-tongban-legal-basis": args.legal_basis,
    }
    for name, value in headers.items():
        if value is not None:
            db_kwargs[OPTIONS.RPC_CALL_HEADER_PREFIX.value + name] = urllib.parse.quote(value, safe="")

    try:
        # Autocommit on: turning it off would ask the server about transactions, which a
        # read-only exchange does not offer.
        with adbc_driver_flightsql.dbapi.connect(args.uri, db_kwargs=db_kwargs, autocommit=True) as conn:
            with conn.cursor() as cursor:
                cursor.execute(args.sql)
                table = cursor.fetch_arrow_table()
    except adbc_driver_manager.Error as e:
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}, ensure_ascii=False))
        return 0
    rows = [list(r.values()) for r in table.to_pylist()]
    print(
        json.dumps(
            {"ok": True, "columns": table.column_names, "rows": rows, "row_count": table.num_rows},
            ensure_ascii=False,
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
