#!/usr/bin/env python3
"""Deterministic FOCUS-1.0-shaped Azure cost export for the benchmark.

usage: gen_cost.py ROWS OUTDIR [--partitions N] [--gzip I[,J...]] [--seed N]
                   [--day YYYY-MM-DD]
       gen_cost.py --replicate K SRCDIR OUTDIR

The rows are those of ../shared/bench/gen_cost.py (same columns, same seed,
same values, byte for byte: RFC 4180 quoting, a JSON Tags column with
embedded quotes and commas, 10-digit decimals, ISO-8601 UTC timestamps,
empty optional cells). They are split into N partitions (default 3) of an
export run folder OUTDIR laid out as Azure writes it: a manifest.json
(blobCount, dataRowCount per blob and in total, exportConfig, runInfo) and
part_<i>_0001.csv, or .csv.gz for the partitions listed in --gzip (default
1: the middle one). Each partition has its own header row.

--replicate K writes an export OUTDIR whose manifest lists SRCDIR's blobs K
times (hard links r<r>_part_<k>_<i>...), i.e. K times the rows without generating
or storing them again: the 5M-row memory run reuses the 1M export.
"""
import csv, gzip, io, json, os, random, shutil, sys

COLS = ["BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
        "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
        "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
        "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName",
        "CommitmentDiscountStatus", "CommitmentDiscountType", "ConsumedQuantity",
        "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
        "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory",
        "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "RegionId",
        "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory",
        "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags"]

SERVICES = [("Virtual Machines", "Compute", "Microsoft.Compute/virtualMachines"),
            ("Storage", "Storage", "Microsoft.Storage/storageAccounts"),
            ("Azure SQL Database", "Databases", "Microsoft.Sql/servers/databases"),
            ("Azure Kubernetes Service", "Compute", "Microsoft.ContainerService/managedClusters"),
            ("Key Vault", "Security", "Microsoft.KeyVault/vaults"),
            ("Log Analytics", "Management and Governance", "Microsoft.OperationalInsights/workspaces")]
REGIONS = [("westeurope", "West Europe"), ("eastus", "East US"), ("northeurope", "North Europe"),
           ("uksouth", "UK South")]
ACCT_SCOPE = "/providers/Microsoft.Billing/billingAccounts/acct-001"


def rows(n, seed, day):
    """The rows of ../shared/bench/gen_cost.py, in order."""
    rnd = random.Random(seed)
    subs = ["%08x-%04x-4%03x-a%03x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16),
            rnd.getrandbits(12), rnd.getrandbits(12), rnd.getrandbits(48)) for _ in range(20)]
    sub_index = {s: k for k, s in enumerate(subs)}
    for i in range(n):
        svc, cat, rtype = SERVICES[i % len(SERVICES)]
        rid, rname = REGIONS[(i // 7) % len(REGIONS)]
        sub = subs[i % len(subs)]
        res = "res-%06d" % (i % 50000)
        qty = rnd.random() * 24
        price = rnd.choice([0.0052, 0.096, 0.192, 1.25, 0.000018])
        cost = qty * price
        tags = {"env": rnd.choice(["prod", "dev", "test"]), "owner": "team-%d" % (i % 37),
                "cost-center": "CC-%04d" % (i % 113)}
        if i % 5 == 0:
            tags["note"] = 'migrated, "legacy"'
        commit = i % 4 == 0
        yield [
            "%.10f" % cost, "acct-001", "Contoso, Ltd.", "USD",
            "2026-12-01T00:00:00Z", "2026-11-01T00:00:00Z",
            "Usage" if i % 50 else "Purchase", "" if i % 97 else "Correction",
            "%s %s usage" % (svc, rname), "Usage-Based",
            day + "T%02d:00:00Z" % ((i % 24) + 1 if (i % 24) < 23 else 23),
            day + "T%02d:00:00Z" % (i % 24),
            "Spend" if commit else "", ("ri-%04d" % (i % 300)) if commit else "",
            ("Reservation %d" % (i % 300)) if commit else "", "Used" if commit else "",
            "Reservation" if commit else "",
            "%.6f" % qty, "Hours", "%.10f" % (cost * 0.9), "%.6f" % (price * 0.9),
            "%.10f" % (cost * (0.8 if commit else 1.0)), "Microsoft",
            "%.10f" % (cost * 1.1), "%.6f" % (price * 1.1),
            "Committed" if commit else "Standard", "%.6f" % qty, "1 Hour", "Microsoft",
            "Microsoft", rid, rname,
            "/subscriptions/%s/resourceGroups/rg-%d/providers/%s/%s" % (sub, i % 11, rtype, res),
            res, rtype.split("/")[-1], cat, svc,
            "DZH318Z0BQ%02d" % (i % 60), "DZH318Z0BQ%02d/%04d" % (i % 60, i % 999),
            sub, "Subscription %d" % sub_index[sub],
            json.dumps(tags, separators=(",", ":"))]


def manifest(blobs, day, run_id):
    return {
        "manifestVersion": "2024-04-01",
        "byteCount": sum(b["byteCount"] for b in blobs),
        "blobCount": len(blobs),
        "dataRowCount": sum(b["dataRowCount"] for b in blobs),
        "exportConfig": {
            "exportName": "bench-focus",
            "resourceId": ACCT_SCOPE + "/providers/Microsoft.CostManagement/exports/bench-focus",
            "dataVersion": "1.0r2", "apiVersion": "2023-07-01-preview", "type": "FocusCost",
            "timeFrame": "MonthToDate", "granularity": "Daily",
        },
        "deliveryConfig": {"partitionData": True,
                           "dataOverwriteBehavior": "OverwritePreviousReport",
                           "fileFormat": "Csv", "compressionMode": "Gzip",
                           "rootFolderPath": "bench"},
        "runInfo": {"executionType": "OnDemand", "submittedTime": day + "T06:00:00Z",
                    "runId": run_id, "startDate": day[:8] + "01T00:00:00",
                    "endDate": day + "T00:00:00Z"},
        "blobs": blobs,
    }


def generate(n, out, parts, gz, seed, day):
    os.makedirs(out, exist_ok=True)
    per = [n // parts + (1 if k < n % parts else 0) for k in range(parts)]
    it = rows(n, seed, day)
    blobs = []
    for k in range(parts):
        name = "part_%d_0001.csv%s" % (k, ".gz" if k in gz else "")
        path = os.path.join(out, name)
        raw = open(path, "wb")
        gzf = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                            compresslevel=6) if k in gz else None
        text = io.TextIOWrapper(gzf if gzf else raw, encoding="utf-8", newline="")
        w = csv.writer(text, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        w.writerow(COLS)
        for _ in range(per[k]):
            w.writerow(next(it))
        text.flush()
        text.detach()
        if gzf:
            gzf.close()
        raw.close()
        blobs.append({"blobName": "bench/bench-focus/%s/%s" % (day.replace("-", ""), name),
                      "byteCount": os.path.getsize(path), "dataRowCount": per[k]})
    with open(os.path.join(out, "manifest.json"), "w") as m:
        json.dump(manifest(blobs, day, "00000000-0000-4000-8000-%012d" % seed), m, indent=2)


def replicate(k, src, out):
    m = json.load(open(os.path.join(src, "manifest.json")))
    os.makedirs(out, exist_ok=True)
    blobs = []
    for r in range(k):
        for b in m["blobs"]:
            base = os.path.basename(b["blobName"])
            name = "r%d_%s" % (r, base)
            link = os.path.join(out, name)
            if not os.path.lexists(link):
                # a hard link: cairn refuses symbolic links that lead out of
                # the export folder (a copy where links cannot be made)
                try:
                    os.link(os.path.join(src, base), link)
                except OSError:
                    shutil.copyfile(os.path.join(src, base), link)
            blobs.append(dict(b, blobName=name))
    day = m["runInfo"]["endDate"][:10]
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest(blobs, day, m["runInfo"]["runId"]), f, indent=2)


def opt(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main():
    if sys.argv[1] == "--replicate":
        replicate(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    n, out = int(sys.argv[1]), sys.argv[2]
    parts = int(opt("--partitions", "3"))
    gz = {int(x) for x in opt("--gzip", "1").split(",") if x != ""}
    generate(n, out, parts, gz, int(opt("--seed", "42")), opt("--day", "2026-11-01"))


if __name__ == "__main__":
    main()
