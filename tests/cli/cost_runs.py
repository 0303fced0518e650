#!/usr/bin/env python3
"""Azure cost export runs for tests/cli/cost_export.sh, read and written
with Python's standard library only (independent of cairn's reader).

  cost_runs.py totals RUN [RUN...]
      per subscription: the exact sums of BilledCost and EffectiveCost of
      the FOCUS export run folders (all of them together), read through
      their manifest.json
  cost_runs.py derive SRC DST [--scope S] [--type T] [--sub SUB]
                              [--drop-day YYYY-MM-DD] [--only-day YYYY-MM-DD]
                              [--scale F] [--blob-name NAME] [--start DATE]
      write the export run DST from SRC: its rows (optionally only those of
      subscription SUB, without the rows of one day or with only those of
      one day, with every cost column multiplied by the exact decimal F) as
      one plain CSV partition, and a manifest whose scope is S (a resource
      id such as /subscriptions/<id>) and whose dataset type is T, with the
      right row and byte counts; the partition's blobName is NAME (default
      derived/part_0_0001.csv), the file its base name; runInfo.startDate
      is DATE when given.
"""
import argparse
import csv
import decimal
import gzip
import io
import json
import os
import sys
import zipfile

COST_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "Cost",
                "CostInBillingCurrency", "CostInPricingCurrency", "costInBillingCurrency",
                "costInPricingCurrency", "PaygCostInBillingCurrency")


def read_run(run):
    """The manifest and every data row (dicts, header order) of a run."""
    m = json.load(open(os.path.join(run, "manifest.json")))
    header, rows = None, []
    for b in m["blobs"]:
        path = os.path.join(run, os.path.basename(b["blobName"].strip()))
        raw = open(path, "rb").read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif raw[:4] == b"PK\x03\x04":
            z = zipfile.ZipFile(io.BytesIO(raw))
            raw = z.read(z.namelist()[0])
        r = csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
        rows.extend(r)
        header = header or r.fieldnames
    return m, header, rows


def sub_of(row):
    v = row.get("SubAccountId", row.get("SubscriptionId", ""))
    return v.lower().removeprefix("/subscriptions/")


def totals(runs):
    rows = [r for run in runs for r in read_run(run)[2]]
    tot = {}
    for r in rows:
        t = tot.setdefault(sub_of(r), [decimal.Decimal(0), decimal.Decimal(0)])
        t[0] += decimal.Decimal(r["BilledCost"])
        t[1] += decimal.Decimal(r["EffectiveCost"])
    for sub in sorted(tot):
        print(sub, *(format(v.normalize(), "f") for v in tot[sub]))


def day_of(row):
    for col in ("ChargePeriodStart", "Date", "date"):
        if col in row:
            v = row[col]
            if "/" in v:  # EA's MM/dd/yyyy
                mm, dd, yy = v.split(" ")[0].split("/")
                return "%s-%02d-%02d" % (yy, int(mm), int(dd))
            return v[:10]
    raise SystemExit("no date column")


def derive(a):
    m, header, rows = read_run(a.src)
    if a.sub:
        rows = [r for r in rows if sub_of(r) == a.sub.lower()]
    if a.drop_day:
        rows = [r for r in rows if day_of(r) != a.drop_day]
    if a.only_day:
        rows = [r for r in rows if day_of(r) == a.only_day]
    if a.scale:
        f = decimal.Decimal(a.scale)
        for r in rows:
            for c in COST_COLUMNS:
                if r.get(c):
                    r[c] = format((decimal.Decimal(r[c]) * f).normalize(), "f")
    out = io.StringIO(newline="")
    w = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    data = out.getvalue().encode("utf-8")
    os.makedirs(a.dst, exist_ok=True)
    name = a.blob_name or "derived/part_0_0001.csv"
    with open(os.path.join(a.dst, os.path.basename(name)), "wb") as fh:
        fh.write(data)
    ec = m["exportConfig"]
    if a.scope:
        ec["resourceId"] = a.scope + \
            "/providers/Microsoft.CostManagement/exports/" + ec["exportName"]
    if a.type:
        ec["type"] = a.type
    if a.start:
        m["runInfo"]["startDate"] = a.start
    m["deliveryConfig"]["compressionMode"] = "None"
    m.update(byteCount=len(data), blobCount=1, dataRowCount=len(rows))
    m["blobs"] = [{"blobName": name,
                   "byteCount": len(data), "dataRowCount": len(rows)}]
    with open(os.path.join(a.dst, "manifest.json"), "w") as fh:
        json.dump(m, fh, indent=2)


def main():
    p = argparse.ArgumentParser()
    sp = p.add_subparsers(dest="cmd", required=True)
    t = sp.add_parser("totals")
    t.add_argument("run", nargs="+")
    d = sp.add_parser("derive")
    d.add_argument("src")
    d.add_argument("dst")
    d.add_argument("--scope")
    d.add_argument("--type")
    d.add_argument("--sub")
    d.add_argument("--drop-day")
    d.add_argument("--only-day")
    d.add_argument("--scale")
    d.add_argument("--blob-name")
    d.add_argument("--start")
    a = p.parse_args()
    if a.cmd == "totals":
        totals(a.run)
    else:
        derive(a)


if __name__ == "__main__":
    sys.exit(main())
