#!/usr/bin/env python3
"""Money checks for tests/cli/cost_export_money.sh: what the warehouse, the
bundle and the SQL of docs/connectors/azure-cost-export.md give, against
what the export's CSV says, computed here with exact decimals (the CSV
read with the standard library only, through tests/cli/cost_runs.py).

  cost_money.py stored DB RUN DATASET
      every row of DATASET in the warehouse DB holds the export's own
      value in each money column (as its exact text, cost_runs.stored_text),
      and only numbers (INTEGER or REAL)
  cost_money.py compare DB RUN DATASET
      credits (billedCost < 0), max(billedCost), the five largest costs:
      as the CSV says
  cost_money.py bundle NDJSON RUN
      the bundle's records (NDJSON, in order) hold the CSV's text of each
      cost, and the same exact totals
  cost_money.py docs DB MARKDOWN FOCUS_RUN EA_ACTUAL_RUN EA_AMORTIZED_RUN
      each SQL statement of the "Money questions in SQL" section and the
      Example, run as written by the stock sqlite3, gives the answer the
      CSVs give
  cost_money.py totals DB DATASET RUN
      per subscription and currency: the exact sums of billedCost and
      effectiveCost of DATASET in DB equal the CSV's (an EA run: its Cost
      in both)
"""
import decimal
import json
import re
import sqlite3
import subprocess
import sys
from decimal import Decimal as D

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, sys.path[0])
from cost_runs import read_run, stored_text, sub_of  # noqa: E402

decimal.getcontext().prec = 60
CENT = D("0.01")


def fail(msg):
    sys.exit("FAIL: " + msg)


def cost_of(row):
    """(billed, effective) texts of a CSV row: FOCUS, or EA's one Cost."""
    if "BilledCost" in row:
        return row["BilledCost"], row["EffectiveCost"]
    return row["Cost"], row["Cost"]


def stored(db_path, run, dataset):
    db = sqlite3.connect(db_path)
    got = db.execute("SELECT billedCost, effectiveCost, listCost, consumedQuantity, "
                     "typeof(billedCost), typeof(effectiveCost), typeof(listCost), "
                     "typeof(consumedQuantity) FROM cost_record WHERE costDataset = ? "
                     "ORDER BY rowid", (dataset,)).fetchall()
    rows = read_run(run)[2]
    if len(got) != len(rows):
        fail("%s: %d rows in the warehouse, %d in the CSV" % (dataset, len(got), len(rows)))
    kinds = set()
    for n, (r, g) in enumerate(zip(rows, got), 2):
        b, e = cost_of(r)
        want = [b, e, r.get("ListCost") or r.get("Cost"), r.get("ConsumedQuantity") or
                r.get("Quantity")]
        kinds.update(g[4:])
        for col, w, v in zip(("billedCost", "effectiveCost", "listCost", "consumedQuantity"),
                             want, g[:4]):
            if D(stored_text(db, v)) != D(w):
                fail("%s line %d: %s is %r (%s), the CSV says %s" %
                     (dataset, n, col, v, stored_text(db, v), w))
    if not kinds <= {"integer", "real"}:
        fail("%s: money stored as %s" % (dataset, sorted(kinds)))
    print("%s: %d rows, every money value the CSV's, stored as %s" %
          (dataset, len(rows), "/".join(sorted(kinds))))


def compare(db_path, run, dataset):
    db = sqlite3.connect(db_path)
    rows = read_run(run)[2]
    billed = [D(cost_of(r)[0]) for r in rows]
    credits = [b for b in billed if b < 0]
    n, s = db.execute("SELECT count(*), sum(billedCost) FROM cost_record "
                      "WHERE costDataset = ? AND billedCost < 0", (dataset,)).fetchone()
    if n != len(credits) or abs(D(s or 0) - sum(credits)) > D("1e-9"):
        fail("billedCost < 0: %s rows, %s; the CSV has %d credits, %s" %
             (n, s, len(credits), sum(credits)))
    mx = db.execute("SELECT max(billedCost) FROM cost_record WHERE costDataset = ?",
                    (dataset,)).fetchone()[0]
    if float(mx) != float(max(billed)):
        fail("max(billedCost) is %r, the CSV's largest is %s" % (mx, max(billed)))
    top = [v for (v,) in db.execute("SELECT billedCost FROM cost_record WHERE costDataset = ? "
                                    "ORDER BY billedCost DESC LIMIT 5", (dataset,))]
    want = sorted(billed, reverse=True)[:5]
    if [D(stored_text(db, v)) for v in top] != want:
        fail("ORDER BY billedCost DESC: %s, the CSV's largest: %s" % (top, want))
    print("%s: %d credits (%s), max %s, the five largest: as in the CSV" %
          (dataset, n, s, mx))


def bundle(ndjson, run):
    rows = read_run(run)[2]
    raw = lambda t: t  # noqa: E731  (a number's text, as written)
    recs = [json.loads(line, parse_float=raw, parse_int=raw)
            for line in open(ndjson, encoding="utf-8")]
    if len(recs) != len(rows):
        fail("bundle: %d records, the CSV %d rows" % (len(recs), len(rows)))
    for n, (r, rec) in enumerate(zip(rows, recs), 2):
        for col, src in (("billedCost", "BilledCost"), ("effectiveCost", "EffectiveCost"),
                         ("listCost", "ListCost"), ("consumedQuantity", "ConsumedQuantity")):
            if rec[col] != r[src]:
                fail("bundle line %d: %s is %s, the CSV says %s" % (n, col, rec[col], r[src]))
    tb = sum(D(x["billedCost"]) for x in recs)
    te = sum(D(x["effectiveCost"]) for x in recs)
    if (tb, te) != (sum(D(r["BilledCost"]) for r in rows),
                    sum(D(r["EffectiveCost"]) for r in rows)):
        fail("bundle totals %s %s" % (tb, te))
    print("bundle: %d records, every cost the CSV's text; totals %s %s" % (len(recs), tb, te))


def cents(x):
    return float(x.quantize(CENT, rounding=decimal.ROUND_HALF_EVEN))


def group(rows, key, *vals):
    """{key: [exact sums of each val]} over rows (key None: skipped)."""
    out = {}
    for r in rows:
        k = key(r)
        t = out.setdefault(k, [D(0)] * len(vals))
        for i, v in enumerate(vals):
            t[i] += v(r)
    return out


def ordered(d):
    return sorted(d.items(), key=lambda kv: tuple((x is not None, x) for x in
                                                  (kv[0] if isinstance(kv[0], tuple)
                                                   else (kv[0],))))


def docs(db_path, md, focus_run, ea_actual, ea_amortized):
    text = open(md, encoding="utf-8").read()
    if "## Money questions in SQL\n" not in text:
        fail("docs: %s has no section \"Money questions in SQL\"" % md)
    sect = text[text.index("## Money questions in SQL"):]
    sql = sect[sect.index("```sql\n") + 7:]
    sql = sql[:sql.index("```")]
    stmts = [s.strip() for s in sql.split(";\n") if s.strip()]
    example = re.search(r'sqlite3 out/warehouse\.db \\\n\s*"(.*?)"', text, re.S).group(1)
    f, fa, fm = (read_run(r)[2] for r in (focus_run, ea_actual, ea_amortized))
    bc = lambda r: D(r["BilledCost"])      # noqa: E731
    ec = lambda r: D(r["EffectiveCost"])   # noqa: E731
    cur = lambda r: r["BillingCurrency"]   # noqa: E731
    db = sqlite3.connect(db_path)

    def rg(r):
        return r["x_ResourceGroupName"].lower() if r["ResourceId"] else None

    def side_by_side():
        a = group(fa, lambda r: (sub_of(r), cur(r)), lambda r: D(r["Cost"]))
        m = group(fm, lambda r: (sub_of(r), cur(r)), lambda r: D(r["Cost"]))
        return [[k[0], k[1], cents(a[k][0]), cents(m[k][0])] for k in sorted(a)]

    def reservations():
        kind = lambda r: ("purchase" if r["ChargeCategory"] == "Purchase" else  # noqa: E731
                          "covered usage" if bc(r) == 0 and ec(r) > 0 else None)
        g = group([r for r in f if kind(r)], lambda r: (kind(r), cur(r)),
                  lambda r: D(1), bc, ec)
        return [[k[0], k[1], int(v[0]), cents(v[1]), cents(v[2])] for k, v in ordered(g)]

    def exact_totals():
        out = []
        for c in sorted({cur(r) for r in f}):
            rs = [r for r in f if cur(r) == c]
            out.append([c, sum(bc(r) for r in rs), sum(ec(r) for r in rs)])
        return out

    want = {
        "per subscription": lambda: [[k[0], k[1], cents(v[0]), cents(v[1])] for k, v in
                                     ordered(group(f, lambda r: (sub_of(r), cur(r)), bc, ec))],
        "per day": lambda: [[k[0], k[1], cents(v[0])] for k, v in
                            ordered(group(f, lambda r: (r["ChargePeriodStart"][:10], cur(r)), bc))],
        "per resource group": lambda: [[k[0], k[1], cents(v[0])] for k, v in
                                       ordered(group(f, lambda r: (rg(r), cur(r)), ec))],
        "per value of the tag": lambda: [[k[0], k[1], cents(v[0])] for k, v in
                                         ordered(group(f, lambda r: (json.loads(r["Tags"])["env"],
                                                                     cur(r)), ec))],
        "per currency": lambda: [[k[0], cents(v[0]), cents(v[1])] for k, v in
                                 ordered(group(f, lambda r: (cur(r),), bc, ec))],
        "actual and amortized": side_by_side,
        "credits and refunds": lambda: [[k[0], k[1], int(v[0]), cents(v[1])] for k, v in
                                        ordered(group([r for r in f if bc(r) < 0],
                                                      lambda r: (r["ChargeCategory"], cur(r)),
                                                      lambda r: D(1), bc))],
        "reservation and savings plan": reservations,
        "the ten most expensive": lambda: [[sub_of(r), r["ServiceName"], float(bc(r))] for r in
                                           sorted(f, key=bc, reverse=True)[:10]],
        "the month's total, exactly": exact_totals,
    }
    seen = set()
    for st in stmts + [example]:
        title = st.splitlines()[0].lstrip("- ") if st.startswith("--") else "example"
        key = next((k for k in want if title.startswith(k)), None)
        if key is None and title != "example":
            fail("docs: no expected answer for the query %r" % title)
        p = subprocess.run(["sqlite3", "-json", db_path], input=st + ";\n",
                           capture_output=True, text=True)
        if p.returncode or p.stderr:
            fail("docs: %r does not run: %s" % (title, p.stderr.strip()))
        got = [list(o.values()) for o in json.loads(p.stdout or "[]")]
        if title == "example":
            exp = [[k[0], k[1], cents(v[0]), cents(v[1])] for k, v in
                   ordered(group(f, lambda r: (sub_of(r), cur(r)), bc, ec))]
            got = sorted(got, key=lambda g: (g[0], g[1]))
        elif key == "the ten most expensive":
            exp = want[key]()
            got = [g[1:] for g in got]
        elif key == "the month's total, exactly":
            exp = want[key]()
            for g, e in zip(got, exp):
                # decimal_sum adds the values as SQLite prints them (15
                # significant digits): within 1e-9 of the CSV's exact sum
                if g[0] != e[0] or any(abs(D(x) - y) > D("1e-9") for x, y in zip(g[1:], e[1:])):
                    fail("docs: %r gives %s, the CSV %s" % (title, g, e))
            got, exp = [g[0] for g in got], [e[0] for e in exp]
        else:
            exp = want[key]()
        if got != exp:
            fail("docs: %r gives\n  %s\nthe CSV says\n  %s" % (title, got[:6], exp[:6]))
        seen.add(key or title)
    missing = set(want) - seen
    if missing:
        fail("docs: no query for %s" % sorted(missing))
    print("docs: %d queries as written, each the CSV's answer" % len(seen))


def totals(db_path, dataset, run):
    db = sqlite3.connect(db_path)
    got = {}
    for sub, cur, b, e in db.execute("SELECT subscriptionId, currency, billedCost, "
                                     "effectiveCost FROM cost_record WHERE costDataset = ?",
                                     (dataset,)):
        t = got.setdefault((sub, cur), [D(0), D(0)])
        t[0] += D(stored_text(db, b))
        t[1] += D(stored_text(db, e))
    want = group(read_run(run)[2], lambda r: (sub_of(r), r["BillingCurrency"]),
                 lambda r: D(cost_of(r)[0]), lambda r: D(cost_of(r)[1]))
    if got != want:
        fail("%s: per subscription %s, the CSV %s" % (dataset, ordered(got)[:3], ordered(want)[:3]))
    print("%s: %d subscription totals, exactly the CSV's" % (dataset, len(got)))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"stored": stored, "compare": compare, "bundle": bundle, "docs": docs,
     "totals": totals}[cmd](*args)


if __name__ == "__main__":
    main()
