#!/usr/bin/env python3
"""Baseline: the cost-export ETL a user would write with Python's stdlib.

usage: py_etl.py EXPORT_DIR OUT.db [OUT.ndjson]

Shaped like ../shared/bench/py_etl.py, doing what jobs/azure-cost-export.json
does: read the export run folder through its manifest.json (gzip blobs via
the gzip module), check each blob's dataRowCount, map every FOCUS row to a
cost_record (the same record id encoding, lower-cased ids, subscription
without its /subscriptions/ prefix, UTC timestamps, exact decimal text
checked with Decimal, canonical tags JSON), and load SQLite the way the
replace_partition sink does: the first time a (billingAccountId, costScope,
costDataset, month of chargePeriodStartUtc) partition is seen its old rows
are deleted (scope and dataset from the manifest's exportConfig); commit
every 50,000 rows. With OUT.ndjson it also writes the records as NDJSON
(the stand-in for cairn's evidence bundle).
"""
import csv, datetime, decimal, gzip, hashlib, io, json, os, sqlite3, sys

FIELDS = ["recordId", "billingAccountId", "costScope", "costDataset", "subscriptionId", "resourceId", "resourceName",
          "resourceType", "serviceName", "serviceCategory", "region", "chargeCategory",
          "chargePeriodStartUtc", "chargePeriodEndUtc", "billedCost", "effectiveCost",
          "listCost", "currency", "consumedQuantity", "consumedUnit", "skuPriceId", "tags"]
ID_COLS = ["BillingAccountId", "SubAccountId", "ChargePeriodStart", "ChargePeriodEnd",
           "ResourceId", "SkuPriceId", "ChargeCategory", "ChargeClass",
           "CommitmentDiscountId", "PricingCategory"]
CHUNK = 50000


def record_id(row):
    h = hashlib.sha256()
    for c in ID_COLS:
        v = row[c]
        if v == "":
            h.update(b"~;")
        else:
            b = v.encode()
            h.update(b"%d:%s;" % (len(b), b))
    return h.hexdigest()


def utc(s):
    if not s:
        return None
    t = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo:
        t = t.astimezone(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def number(s):
    if s == "":
        return None
    decimal.Decimal(s)  # validates; the text is kept exactly
    return s


def tags(s):
    return json.dumps(json.loads(s) if s else {}, separators=(",", ":"), sort_keys=True)


def manifest(export_dir):
    return json.load(open(os.path.join(export_dir, "manifest.json")))


def blobs(export_dir, m):
    for b in m["blobs"]:
        path = os.path.join(export_dir, os.path.basename(b["blobName"].strip()))
        raw = open(path, "rb")
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            f = io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8-sig", newline="")
        else:
            raw.seek(0)
            f = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        yield b, f


def main():
    export_dir, dbp = sys.argv[1:3]
    ndp = sys.argv[3] if len(sys.argv) > 3 else None
    db = sqlite3.connect(dbp, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS cost_record (%s)" % ", ".join(FIELDS))
    db.execute("CREATE INDEX IF NOT EXISTS cost_record_part ON cost_record"
               "(billingAccountId, costScope, costDataset, chargePeriodStartUtc)")
    m = manifest(export_dir)
    ec = m.get("exportConfig", {})
    scope = ec.get("resourceId")
    if scope:
        cut = scope.lower().rfind("/providers/microsoft.costmanagement/exports/")
        scope = (scope[:cut] if cut >= 0 else scope).lower()
    dataset = ec.get("type")
    ins = "INSERT INTO cost_record VALUES (%s)" % ",".join("?" * len(FIELDS))
    out = open(ndp, "w") if ndp else None
    seen = set()
    n = 0
    db.execute("BEGIN")
    for b, f in blobs(export_dir, m):
        rows = 0
        for row in csv.DictReader(f):
            sub = row["SubAccountId"]
            if sub[:15].lower() == "/subscriptions/":
                sub = sub[15:]
            rec = {
                "recordId": record_id(row), "billingAccountId": row["BillingAccountId"],
                "costScope": scope, "costDataset": dataset,
                "subscriptionId": sub.lower() or None,
                "resourceId": row["ResourceId"].lower() or None,
                "resourceName": row["ResourceName"] or None,
                "resourceType": row["ResourceType"] or None,
                "serviceName": row["ServiceName"],
                "serviceCategory": row["ServiceCategory"] or "Other",
                "region": row["RegionId"].lower() or None,
                "chargeCategory": row["ChargeCategory"],
                "chargePeriodStartUtc": utc(row["ChargePeriodStart"]),
                "chargePeriodEndUtc": utc(row["ChargePeriodEnd"]),
                "billedCost": number(row["BilledCost"]),
                "effectiveCost": number(row["EffectiveCost"]),
                "listCost": number(row["ListCost"]), "currency": row["BillingCurrency"],
                "consumedQuantity": number(row["ConsumedQuantity"]),
                "consumedUnit": row["ConsumedUnit"] or None,
                "skuPriceId": row["SkuPriceId"] or None, "tags": tags(row["Tags"]),
            }
            part = (rec["billingAccountId"], scope, dataset, rec["chargePeriodStartUtc"][:7])
            if part not in seen:
                seen.add(part)
                # the month's timestamps, YYYY-MM-..., sort between M+"-" and M+"."
                db.execute("DELETE FROM cost_record WHERE billingAccountId=? AND "
                           "costScope IS ? AND costDataset IS ? AND "
                           "chargePeriodStartUtc >= ? || '-' AND "
                           "chargePeriodStartUtc < ? || '.'",
                           (part[0], part[1], part[2], part[3], part[3]))
            db.execute(ins, [rec[k] for k in FIELDS])
            if out:
                o = dict(rec, tags=json.loads(rec["tags"]))
                out.write(json.dumps(o, separators=(",", ":"), sort_keys=True) + "\n")
            rows += 1
            n += 1
            if n % CHUNK == 0:
                db.execute("COMMIT")
                db.execute("BEGIN")
        if rows != b.get("dataRowCount", rows):
            sys.exit("%s: %d rows, manifest says %d" % (b["blobName"], rows, b["dataRowCount"]))
    db.execute("COMMIT")
    print("rows", n)


if __name__ == "__main__":
    main()
