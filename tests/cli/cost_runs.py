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
  cost_runs.py month DST [--rows N] [--seed S] [--run R]
      a month (May 2024) of charges written the way Azure writes costs, as
      three export run folders of the same charges: DST/focus (FocusCost
      1.0r2), DST/ea-actual and DST/ea-amortized (EA 2021-10-01: BOM, CRLF,
      MM/dd/yyyy, brace-less Tags). Costs as doubles in full (up to 17
      significant digits, 9E-06 exponents), fixed decimals, 1.234E-7,
      0 / 0.00 / -0, credits (negative), reservation-covered usage (billed
      0, effective more), purchases (effective 0.0), huge quantities; two
      currencies. R (default 1) goes into the run ids: a re-export of the
      month is another seed and run.
  cost_runs.py rows DB COLS
      the rows of cost_record in DB (columns COLS, by rowid) laid out as
      sqlite3 -json does, decimals as text (stored_text)
  cost_runs.py stored DB
      per subscription: the exact sums of billedCost and effectiveCost in
      the warehouse DB, each value taken as stored_text
"""
import argparse
import csv
import decimal
import gzip
import io
import json
import os
import random
import sqlite3
import sys
import zipfile

# Exact sums: the default 28 significant digits would round a month of
# costs written with 17 digits each.
decimal.getcontext().prec = 60

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


def as_azure(d):
    """The decimal d written as Azure writes a cost: as it is when it has
    at most 15 significant digits, else as the double Azure would have
    computed, in full: the shortest text that reads back as that double
    (0.4838709677419368 * 3 is written 1.4516129032258105, not as the
    exact product 1.4516129032258104, which no double holds; the
    warehouse would store the same double for both)."""
    d = d.normalize()
    if len(d.as_tuple().digits) > 15:
        return repr(float(d))
    return format(d, "f")


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
                    r[c] = as_azure(decimal.Decimal(r[c]) * f)
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


FOCUS_COLS = ("BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,"
              "BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,"
              "ChargePeriodEnd,ChargePeriodStart,CommitmentDiscountId,"
              "CommitmentDiscountType,ConsumedQuantity,ConsumedUnit,EffectiveCost,"
              "ListCost,PricingCategory,RegionId,ResourceId,ResourceName,ResourceType,"
              "ServiceCategory,ServiceName,SkuPriceId,SubAccountId,Tags,"
              "x_ResourceGroupName").split(",")
EA_COLS = ("BillingAccountId,BillingAccountName,SubscriptionId,Date,MeterId,"
           "ServiceFamily,MeterCategory,Quantity,Cost,BillingCurrency,ResourceLocation,"
           "ResourceId,ResourceName,Tags,UnitOfMeasure,ResourceGroup,ReservationId,"
           "PartNumber,ChargeType,PricingModel,PayGPrice,benefitId").split(",")


def charges(n, seed):
    """n charges of May 2024: dicts of the values both formats write."""
    rnd = random.Random(seed)
    subs = ["%08x-%04x-4%03x-a%03x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16),
            rnd.getrandbits(12), rnd.getrandbits(12), rnd.getrandbits(48))
            for _ in range(8)]
    services = [("Virtual Machines", "Compute"), ("Storage", "Storage"),
                ("SQL Database", "Databases"), ("Bandwidth", "Networking")]

    def double(x):           # a double in full, as .NET and Python write it
        t = repr(x)
        return t.upper() if rnd.random() < 0.5 else t   # 9E-06 or 9e-06

    for i in range(n):
        qty = rnd.random() * 24
        price = rnd.choice([0.0052, 0.096, 0.192, 1.25, 0.000018, 0.0000001234, 3.6])
        if i % 97 == 7:
            qty, price = 123456789012.5 + rnd.random(), 0.0000001234  # bytes
        cost = qty * price
        style = rnd.randrange(3)
        billed = double(cost) if style < 2 else "%.10f" % cost
        effective, kind, commit = billed, "Usage", ""
        if i % 9 == 3:       # covered by a reservation: billed 0, amortized more
            billed, effective, commit = "0", double(cost * 0.6), "ri-%02d" % (i % 5)
        elif i % 61 == 5:    # a reservation purchase
            billed, effective, kind = double(rnd.random() * 5000), "0.0", "Purchase"
        elif i % 23 == 11:   # a credit or refund
            billed = effective = double(-rnd.random() * 50)
            kind = "Credit"
        elif i % 29 == 13:
            billed = effective = ["0", "0.00", "-0"][i % 3]
        elif i % 31 == 17:   # a tiny unit price in E notation
            billed = effective = "1.234E-7"
        sub = subs[i % len(subs)]
        yield dict(i=i, sub=sub, day="2024-05-%02d" % (1 + i // 3 % 31),
                   service=services[i % 4], rg="rg-%d" % (i % 5), res="res-%04d" % (i % 500),
                   qty=repr(qty), billed=billed, effective=effective, kind=kind,
                   commit=commit, list="%.10f" % (cost * 1.1),
                   currency="EUR" if sub in subs[6:] else "USD",
                   env=["prod", "dev", "test"][i % 3], cc="CC-%02d" % (i % 7))


def write_run(dst, name, typ, version, cols, rows, run, bom=False):
    """A run folder of one plain CSV partition and its manifest."""
    os.makedirs(dst, exist_ok=True)
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n" if bom else "\n")
    w.writerow(cols)
    w.writerows(rows)
    data = ("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8")
    with open(os.path.join(dst, "part_0_0001.csv"), "wb") as fh:
        fh.write(data)
    blob = "exports/%s/20240501-20240531/run%s/part_0_0001.csv" % (name, run)
    m = {"manifestVersion": "2024-04-01", "byteCount": len(data), "blobCount": 1,
         "dataRowCount": len(rows),
         "exportConfig": {"exportName": name, "resourceId":
                          "/providers/Microsoft.Billing/billingAccounts/8611537/providers/"
                          "Microsoft.CostManagement/exports/" + name,
                          "dataVersion": version, "apiVersion": "2023-07-01-preview",
                          "type": typ, "timeFrame": "MonthToDate", "granularity": "Daily"},
         "deliveryConfig": {"partitionData": True, "fileFormat": "Csv",
                            "dataOverwriteBehavior": "OverwritePreviousReport",
                            "compressionMode": "None", "rootFolderPath": "exports"},
         "runInfo": {"executionType": "Scheduled", "submittedTime":
                     "2024-06-0%sT03:00:00Z" % run, "runId":
                     "00000000-0000-4000-8000-%012d" % int(run),
                     "startDate": "2024-05-01T00:00:00", "endDate": "2024-05-31T00:00:00Z"},
         "blobs": [{"blobName": blob, "byteCount": len(data), "dataRowCount": len(rows)}]}
    with open(os.path.join(dst, "manifest.json"), "w") as fh:
        json.dump(m, fh, indent=2)


def month(a):
    ch = list(charges(a.rows, a.seed))
    rid = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s"
    write_run(os.path.join(a.dst, "focus"), "cairn-focus", "FocusCost", "1.0r2", FOCUS_COLS, [
        [c["billed"], "8611537", "Contoso", c["currency"], "2024-06-01T00:00:00Z",
         "2024-05-01T00:00:00Z", c["kind"], "", c["day"][:10] + "T23:00Z" if c["i"] % 2
         else c["day"] + "T23:00:00Z", c["day"] + ("T00:00Z" if c["i"] % 2 else "T00:00:00Z"),
         c["commit"], "Reservation" if c["commit"] else "", c["qty"], "Hours",
         c["effective"], c["list"], "Committed" if c["commit"] else "Standard",
         "westeurope", "" if c["kind"] == "Purchase" else rid % (c["sub"], c["rg"].upper(), c["res"]),
         c["res"], "virtualMachines", c["service"][1], c["service"][0],
         "SKU%d/%d" % (c["i"] % 60, c["i"]), "/subscriptions/" + c["sub"],
         json.dumps({"env": c["env"], "CostCenter": c["cc"]}), c["rg"]] for c in ch], a.run)
    for view, col, typ in (("actual", "billed", "ActualCost"),
                           ("amortized", "effective", "AmortizedCost")):
        write_run(os.path.join(a.dst, "ea-" + view), "cairn-ea-" + view, typ, "2021-10-01",
                  EA_COLS, [
            ["8611537", "Contoso", c["sub"], "%s/%s/%s" % (c["day"][5:7], c["day"][8:], c["day"][:4]),
             "m%d" % (c["i"] % 60), c["service"][1], c["service"][0], c["qty"], c[col],
             c["currency"], "westeurope",
             "" if c["kind"] == "Purchase" else rid % (c["sub"], c["rg"], c["res"]), c["res"],
             '"env": "%s","CostCenter": "%s"' % (c["env"], c["cc"]), "1 Hour", c["rg"],
             c["commit"], "P%d" % c["i"],
             {"Usage": "Usage", "Purchase": "Purchase", "Credit": "Refund"}[c["kind"]],
             "Reservation" if c["commit"] else "OnDemand", "0.1", c["commit"]] for c in ch],
            a.run, bom=True)


MONEY = ("billedCost", "effectiveCost", "listCost", "consumedQuantity")


def stored_text(db, v):
    """A stored decimal as text: as SQLite prints it (CAST AS TEXT: 15
    significant digits, exactly as given for a decimal that has no more),
    or, when that does not read back as the stored double (a longer
    decimal), the shortest text that does (repr), which gives a double
    written in full (0.4838709677419368) back as written."""
    if v is None or isinstance(v, str):
        return v
    t = db.execute("SELECT CAST(? AS TEXT)", (v,)).fetchone()[0]
    return t if isinstance(v, int) or float(t) == v else repr(v)


def rows(path, cols):
    db = sqlite3.connect(path)
    cur = db.execute("SELECT %s FROM cost_record ORDER BY rowid" % cols)
    names = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        o = {k: stored_text(db, v) if k in MONEY else v for k, v in zip(names, r)}
        out.append(json.dumps(o, separators=(",", ":"), ensure_ascii=False))
    print("[" + ",\n".join(out) + "]")


def stored(path):
    db = sqlite3.connect(path)
    tot = {}
    for sub, b, e in db.execute("SELECT subscriptionId, billedCost, effectiveCost "
                                "FROM cost_record"):
        t = tot.setdefault(sub, [decimal.Decimal(0), decimal.Decimal(0)])
        t[0] += decimal.Decimal(stored_text(db, b))
        t[1] += decimal.Decimal(stored_text(db, e))
    for sub in sorted(tot):
        print(sub, *(format(v.normalize(), "f") for v in tot[sub]))


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
    mo = sp.add_parser("month")
    mo.add_argument("dst")
    mo.add_argument("--rows", type=int, default=3000)
    mo.add_argument("--seed", type=int, default=1)
    mo.add_argument("--run", default="1")
    r = sp.add_parser("rows")
    r.add_argument("db")
    r.add_argument("cols")
    st = sp.add_parser("stored")
    st.add_argument("db")
    a = p.parse_args()
    if a.cmd == "totals":
        totals(a.run)
    elif a.cmd == "rows":
        rows(a.db, a.cols)
    elif a.cmd == "month":
        month(a)
    elif a.cmd == "stored":
        stored(a.db)
    else:
        derive(a)


if __name__ == "__main__":
    sys.exit(main())
