#!/usr/bin/env python3
"""Baseline: the Resource Graph -> cmdb_ci ETL a user would write with
Python's stdlib, for the JSON path of the bench.

usage: py_rg_etl.py RECORDING.har OUT.db

Reads the recording (json module) and takes the responses of the Resource
Graph POSTs in recorded order, as a paging loop would get them from the
network. Then, timed: parse each page (json.loads), map every row of
/data the way jobs/azure-resource-graph.json does (ciId and subscriptionId
lower-cased, type lower-cased, owner/env coalesced over the same tag
spellings, skipping null and "", tags as canonical JSON with sorted keys and
{} for none, lastSeenUtc from the page's Date header in RFC 3339 UTC,
source "resource_graph"), and load SQLite the way the warehouse sink does
in replace_partition mode: the same table and partition index, the same
PRAGMAs (WAL, synchronous=NORMAL, 64 KiB pages, 16 MB cache,
wal_autocheckpoint=4000), the resource_graph partition deleted first, one
transaction per page (the sink commits per chunk), a checkpoint at the end.

Prints one line: `records N pages P bytes B seconds S` (S = the timed part:
parse + map + insert, not reading the HAR file nor opening the database).
"""
import email.utils, json, sqlite3, sys, time

FIELDS = ["ciId", "name", "type", "owner", "env", "tags", "lastSeenUtc",
          "source", "location", "subscriptionId"]
OWNER = ("owner", "Owner", "OWNER")
ENV = ("env", "Env", "ENV", "environment", "Environment")


def coalesce(tags, keys):
    for k in keys:
        v = tags.get(k)
        if v is not None and v != "":
            return v
    return None


def utc(http_date):
    t = email.utils.parsedate_to_datetime(http_date)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def lower(v):
    return v.lower() if isinstance(v, str) else v


def pages(har_path):
    """(body text, Date) of each Resource Graph page, in order."""
    out = []
    for e in json.load(open(har_path, encoding="utf-8"))["log"]["entries"]:
        r = e["response"]
        if "/providers/Microsoft.ResourceGraph/resources" not in e["request"]["url"]:
            continue
        if r["status"] != 200:
            continue  # a 429 the job retried
        date = next(h["value"] for h in r["headers"] if h["name"].lower() == "date")
        out.append((r["content"]["text"], date))
    return out


def main():
    har_path, dbp = sys.argv[1:3]
    recorded = pages(har_path)
    db = sqlite3.connect(dbp, isolation_level=None)
    db.executescript("PRAGMA page_size=65536; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     " PRAGMA cache_size=-16384; PRAGMA wal_autocheckpoint=4000;")
    db.execute('CREATE TABLE IF NOT EXISTS cmdb_ci("ciId" TEXT NOT NULL, "name" TEXT NOT NULL, '
               '"type" TEXT, "owner" TEXT, "env" TEXT, "tags" TEXT NOT NULL, "lastSeenUtc" TEXT NOT NULL, '
               '"source" TEXT NOT NULL, "location" TEXT, "subscriptionId" TEXT)')
    db.execute('CREATE INDEX IF NOT EXISTS cmdb_ci_part ON cmdb_ci("source")')
    ins = "INSERT INTO cmdb_ci VALUES (%s)" % ",".join("?" * len(FIELDS))
    n = rejected = nbytes = 0

    t0 = time.perf_counter()
    db.execute("BEGIN")
    db.execute("DELETE FROM cmdb_ci WHERE source = 'resource_graph'")
    db.execute("COMMIT")
    for text, date in recorded:
        nbytes += len(text.encode())
        doc = json.loads(text)
        seen = utc(date)
        rows = []
        for r in doc.get("data") or []:
            tags = r.get("tags") or {}
            if not isinstance(r.get("id"), str) or not isinstance(r.get("name"), str) \
                    or not isinstance(tags, dict):
                rejected += 1
                continue
            rows.append((r["id"].lower(), r["name"], lower(r.get("type")),
                         coalesce(tags, OWNER), coalesce(tags, ENV),
                         json.dumps(tags, separators=(",", ":"), sort_keys=True, ensure_ascii=False),
                         seen, "resource_graph", r.get("location"),
                         lower(r.get("subscriptionId"))))
        db.execute("BEGIN")
        db.executemany(ins, rows)
        db.execute("COMMIT")
        n += len(rows)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    secs = time.perf_counter() - t0
    db.close()
    print("records %d rejected %d pages %d bytes %d seconds %.3f"
          % (n, rejected, len(recorded), nbytes, secs))


if __name__ == "__main__":
    main()
