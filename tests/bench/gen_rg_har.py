#!/usr/bin/env python3
"""Generate a Resource-Graph-shaped HAR recording for the JSON-path bench.

usage: gen_rg_har.py PAGES OUT.har [--rows N]

Writes what `cairn run jobs/azure-resource-graph.json --record` would have
written against a tenant with PAGES x N resources (default N = 1000, the
job's $top): the OAuth2 client-credentials exchange (as in
fixtures/azure-resource-graph.har, secrets REDACTED), then PAGES POSTs of
the job's query, the second and later ones carrying the previous page's
$skipToken in options.$skipToken (body_token paging), the last page
without one. Replay it with the params and secret of
tests/data/connectors/azure-resource-graph.env (tenant, client id).

Rows look like Resource Graph's objectArray rows, sorted by id as the query
asks: id, name, type (lower case), location, subscriptionId, resourceGroup
(lower case), tags (several keys, the owner/env spellings the mapping
coalesces over, null on some resources), and a properties object of the
resource type's usual shape (VMs, disks, NICs, NSGs with rules, storage
accounts, web sites, ...). A page is about 500 KB, so 200 pages are about
100 MB of response bodies (the "Cost exports at scale" issue's 101 MB).
Resource Graph would only return properties if the query projected it; it
is here because real pages carry it (the parser must skip over it) and the
issue's figures were measured on such pages.

Deterministic: the same arguments give the same bytes (a fixed seed, no
clock). Page k's Date is 06:00:00 plus k seconds, and
x-ms-user-quota-remaining never reaches 0 (cairn would pace on 0).
"""
import argparse, base64, json, os, random, uuid

TENANT = "8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d"
CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"
QUERY = ("Resources | project id, name, type, location, tags, subscriptionId, "
         "resourceGroup | order by id asc")
ARG_URL = ("https://management.azure.com/providers/Microsoft.ResourceGraph/"
           "resources?api-version=2022-10-01")
TOKEN_URL = "https://login.microsoftonline.com/%s/oauth2/v2.0/token" % TENANT
LOCATIONS = ["westeurope", "northeurope", "eastus", "eastus2", "westus2",
             "uksouth", "germanywestcentral", "francecentral", "swedencentral",
             "centralus", "southeastasia", "australiaeast"]
TEAMS = ["team-app", "team-data", "team-web", "team-sec", "team-net",
         "platform", "finops", "ml-research", "payments", "identity"]
ENVS = ["prod", "dev", "test", "staging", "qa", "sandbox"]
APPS = ["checkout", "catalog", "search", "billing", "crm", "erp", "portal",
        "telemetry", "identity", "reporting", "ingest", "backoffice"]
# (provider path, Resource Graph type, name prefix, weight)
KINDS = [
    ("Microsoft.Compute/virtualMachines", "vm", 14),
    ("Microsoft.Compute/disks", "disk", 18),
    ("Microsoft.Network/networkInterfaces", "nic", 14),
    ("Microsoft.Network/publicIPAddresses", "pip", 8),
    ("Microsoft.Network/networkSecurityGroups", "nsg", 6),
    ("Microsoft.Network/virtualNetworks", "vnet", 3),
    ("Microsoft.Storage/storageAccounts", "st", 9),
    ("Microsoft.Web/sites", "app", 7),
    ("Microsoft.Web/serverFarms", "plan", 3),
    ("Microsoft.KeyVault/vaults", "kv", 4),
    ("Microsoft.Sql/servers/databases", "sqldb", 5),
    ("Microsoft.Insights/components", "appi", 4),
    ("Microsoft.OperationalInsights/workspaces", "log", 2),
    ("Microsoft.ContainerService/managedClusters", "aks", 1),
    ("Microsoft.Automation/automationAccounts", "aa", 2),
]


def uid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def stamp(rng):
    return "20%02d-%02d-%02dT%02d:%02d:%02d.%07dZ" % (
        rng.randint(19, 24), rng.randint(1, 12), rng.randint(1, 28),
        rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
        rng.randint(0, 9999999))


def properties(rng, kind, name, loc):
    """A trimmed but typical properties object of the resource type."""
    ok = "Succeeded"
    if kind == "Microsoft.Compute/virtualMachines":
        return {"hardwareProfile": {"vmSize": rng.choice(["Standard_D2s_v5", "Standard_B2ms", "Standard_E4s_v5"])},
                "storageProfile": {"osDisk": {"osType": rng.choice(["Linux", "Windows"]),
                                              "diskSizeGB": rng.choice([30, 64, 128])}},
                "provisioningState": ok}
    if kind == "Microsoft.Compute/disks":
        return {"diskSizeGB": rng.choice([32, 64, 128, 256, 512, 1024]),
                "diskState": rng.choice(["Attached", "Unattached", "Reserved"]),
                "provisioningState": ok, "timeCreated": stamp(rng)}
    if kind == "Microsoft.Network/networkInterfaces":
        return {"provisioningState": ok, "ipConfigurations": [{"name": "ipconfig1", "properties": {
                    "privateIPAddress": "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))}}]}
    if kind == "Microsoft.Network/publicIPAddresses":
        return {"provisioningState": ok, "ipAddress": "20.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)),
                "publicIPAllocationMethod": "Static"}
    if kind == "Microsoft.Network/networkSecurityGroups":
        rules = [{"name": "allow-%s" % p, "properties": {"destinationPortRange": str(p), "access": "Allow",
                                                         "priority": 100 + 10 * i}}
                 for i, p in enumerate(rng.sample([22, 80, 443, 1433, 3389, 5432, 8080], rng.randint(1, 2)))]
        return {"provisioningState": ok, "securityRules": rules}
    if kind == "Microsoft.Network/virtualNetworks":
        return {"provisioningState": ok, "addressSpace": {"addressPrefixes": ["10.%d.0.0/16" % rng.randrange(256)]}}
    if kind == "Microsoft.Storage/storageAccounts":
        return {"provisioningState": ok, "accessTier": rng.choice(["Hot", "Cool"]), "minimumTlsVersion": "TLS1_2",
                "primaryLocation": loc}
    if kind == "Microsoft.Web/sites":
        return {"state": "Running", "defaultHostName": name + ".azurewebsites.net", "httpsOnly": True}
    if kind == "Microsoft.Sql/servers/databases":
        return {"status": "Online", "maxSizeBytes": 34359738368,
                "currentServiceObjectiveName": rng.choice(["GP_Gen5_2", "S0", "P1"])}
    if kind == "Microsoft.KeyVault/vaults":
        return {"sku": {"family": "A", "name": "standard"}, "enableSoftDelete": True, "provisioningState": ok}
    return {"provisioningState": ok}


def tags(rng, app):
    r = rng.random()
    if r < 0.12:
        return None
    if r < 0.18:
        return {}
    t = {}
    owner = rng.choice(["owner", "owner", "owner", "Owner", "OWNER"])
    env = rng.choice(["env", "env", "Environment", "environment", "Env", "ENV"])
    if rng.random() < 0.85:
        t[owner] = rng.choice(TEAMS)
    if rng.random() < 0.9:
        t[env] = rng.choice(ENVS)
    if rng.random() < 0.8:
        t["CostCenter"] = str(rng.randint(1000, 9999))
    if rng.random() < 0.6:
        t["application"] = app
    for k in rng.sample(["createdBy", "project", "patch-window", "backup", "dataClassification", "managedBy"], rng.randint(0, 1)):
        t[k] = {"createdBy": "terraform", "project": "p-%04d" % rng.randint(1, 500), "patch-window": "sun-02:00",
                "backup": "daily", "dataClassification": "internal", "managedBy": "platform-team"}[k]
    return t


def rows(total, rng):
    """All rows, sorted by id (the query's order)."""
    weights = [k[2] for k in KINDS]
    subs = sorted(uid(rng) for _ in range(max(1, total // 10000)))
    out, seen = [], set()
    for i in range(total):
        sub = subs[i * len(subs) // total]
        app = rng.choice(APPS)
        rg = "rg-%s-%s" % (app, rng.choice(ENVS))
        rg_case = rg.upper() if rng.random() < 0.2 else rg
        kind, prefix, _ = rng.choices(KINDS, weights)[0]
        name = "%s-%s-%03d" % (prefix, app, rng.randrange(1000))
        if kind == "Microsoft.Sql/servers/databases":
            path = "Microsoft.Sql/servers/sql-%s/databases/%s" % (app, name)
        else:
            path = "%s/%s" % (kind, name)
        rid = "/subscriptions/%s/resourceGroups/%s/providers/%s" % (sub, rg_case, path)
        if rid.lower() in seen:  # ids are unique (case-insensitively, as ARM's are)
            name = "%s-%d" % (name, i)
            rid = "%s-%d" % (rid, i)
        seen.add(rid.lower())
        out.append((rid, name, kind, sub, rg, app))
    out.sort()
    return out


def skip_token(rows_to_skip):
    raw = ('{\r\n  "$id": "1",\r\n  "MaxRows": 1000,\r\n  "RowsToSkip": %d,\r\n'
           '  "KustoClusterUrl": "https://arg-weu-one-sf.arg.core.windows.net"\r\n}'
           % rows_to_skip)
    return base64.b64encode(raw.encode()).decode()


def http_date(sec):
    return "Tue, 05 Mar 2024 %02d:%02d:%02d GMT" % (6 + sec // 3600, sec // 60 % 60, sec % 60)


def entry(date, url, req_headers, query, mime, body, status, resp_headers, text):
    return {
        "startedDateTime": "2024-03-05T%s.000Z" % date.split(" ")[4],
        "time": 0,
        "request": {"method": "POST", "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
                    "headers": [{"name": k, "value": v} for k, v in req_headers],
                    "queryString": [{"name": k, "value": v} for k, v in query],
                    "headersSize": -1, "bodySize": len(body.encode()),
                    "postData": {"mimeType": mime, "text": body}},
        "response": {"status": status, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [],
                     "headers": [{"name": k, "value": v} for k, v in resp_headers],
                     "content": {"size": len(text.encode()), "mimeType": "application/json; charset=utf-8",
                                 "text": text},
                     "redirectURL": "", "headersSize": -1, "bodySize": len(text.encode())},
        "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pages", type=int)
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=1000, help="rows per page")
    a = ap.parse_args()
    rng = random.Random(20240305)
    total = a.pages * a.rows
    all_rows = rows(total, rng)
    date0 = http_date(0)
    entries = [entry(
        date0, TOKEN_URL,
        [("x-ms-client-request-id", "REDACTED"), ("Accept", "application/json"),
         ("Content-Type", "application/x-www-form-urlencoded")], [],
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&client_id=%s&client_secret=REDACTED&"
        "scope=https%%3A%%2F%%2Fmanagement.azure.com%%2F.default" % CLIENT,
        200,
        [("Date", date0), ("Content-Type", "application/json; charset=utf-8"),
         ("Cache-Control", "no-store, no-cache"), ("x-ms-request-id", str(uuid.UUID(int=1, version=4)))],
        '{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"REDACTED"}')]
    req_headers = [("x-ms-client-request-id", "REDACTED"), ("Accept", "application/json"),
                   ("User-Agent", "cairn/0.1.0"), ("Authorization", "REDACTED"),
                   ("Content-Type", "application/json")]
    for k in range(a.pages):
        options = {"$top": 1000, "resultFormat": "objectArray"}
        if k:
            options["$skipToken"] = skip_token(k * a.rows)
        body = json.dumps({"query": QUERY, "options": options}, separators=(",", ":"))
        data = []
        for rid, name, kind, sub, rg, app in all_rows[k * a.rows:(k + 1) * a.rows]:
            loc = rng.choice(LOCATIONS)
            data.append({"id": rid, "name": name, "type": kind.lower(), "location": loc,
                         "tags": tags(rng, app), "subscriptionId": sub, "resourceGroup": rg,
                         "properties": properties(rng, kind, name, loc)})
        page = {"totalRecords": total, "count": len(data), "resultTruncated": "false", "facets": [],
                "data": data}
        if k + 1 < a.pages:
            page["$skipToken"] = skip_token((k + 1) * a.rows)
        text = json.dumps(page, separators=(",", ":"))
        date = http_date(k)
        rq = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        remaining = str(14 - k % 14)
        entries.append(entry(
            date, ARG_URL, req_headers, [("api-version", "2022-10-01")], "application/json", body, 200,
            [("Date", date), ("Content-Type", "application/json; charset=utf-8"),
             ("x-ms-request-id", rq), ("x-ms-correlation-request-id", rq),
             ("x-ms-user-quota-remaining", remaining), ("x-ms-user-quota-resets-after", "00:00:05"),
             ("x-ms-ratelimit-remaining-tenant-resource-requests", remaining)],
            text))
    har = {"log": {"version": "1.2", "creator": {"name": "cairn", "version": "0.1.0"},
                   "comment": "Generated by tests/bench/gen_rg_har.py %d --rows %d: a synthetic "
                              "Resource Graph snapshot for the JSON-path bench (values made up)."
                              % (a.pages, a.rows),
                   "entries": entries}}
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(har, f, indent=1)
        f.write("\n")
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
