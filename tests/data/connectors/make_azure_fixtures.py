#!/usr/bin/env python3
"""Writes the hand-built HAR recordings of the Azure/Graph connector jobs:

  fixtures/azure-resource-graph.har  fixtures/azure-cost-query.har
  fixtures/azure-policy-states.har   fixtures/sentinel-incidents.har
  fixtures/defender-alerts.har       fixtures/entra-users.har

They are shaped like the recorder's output (docs/internals/http.md: fixed
key order, zero timings, startedDateTime from Date, credentials REDACTED)
and like the real APIs (shared/docs/source-formats.md sections 1, 3, 5, 6,
7, 8; shared/samples/*.json): the same paths, query options, bodies,
continuations, throttling headers and error envelopes. The values are
illustrative (Microsoft's sample ids where a sample exists). Each recording
has the OAuth token exchange, several pages and a 429 answered by a retry
(identical requests replay in recorded order, so 429 then 200 is a retry).

Run from the repository root:  python3 tests/data/connectors/make_azure_fixtures.py
"""
import json
import os
import sys
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, parse_qsl

TENANT = "8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d"
CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"
ARM = "https://management.azure.com"
GRAPH = "https://graph.microsoft.com"
LOGIN = "https://login.microsoftonline.com"
COMMENT = ("Hand-built recording for the {job} connector job: request and "
           "response shapes per shared/docs/source-formats.md and "
           "shared/samples (values illustrative, trimmed pages); credentials "
           "REDACTED as the recorder writes them. Regenerate with "
           "tests/data/connectors/make_azure_fixtures.py.")


def iso(date):
    return parsedate_to_datetime(date).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def hdrs(pairs):
    return [{"name": k, "value": v} for k, v in pairs]


def entry(method, url, date, status, body=None, form=None, resp=None,
          resp_headers=(), corr="x-ms-client-request-id", auth=True):
    """One exchange. body: JSON value sent; form: form text; resp: JSON
    value (or None for no body)."""
    rh = [(corr, "REDACTED"), ("Accept", "application/json")]
    if form is not None:
        rh.append(("Content-Type", "application/x-www-form-urlencoded"))
    else:
        rh.append(("User-Agent", "cairn/0.1.0"))
        if auth:
            rh.append(("Authorization", "REDACTED"))
        if body is not None:
            rh.append(("Content-Type", "application/json"))
    req = {
        "method": method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": hdrs(rh),
        "queryString": [{"name": k, "value": v}
                        for k, v in parse_qsl(urlsplit(url).query,
                                              keep_blank_values=True)],
        "headersSize": -1,
        "bodySize": 0,
    }
    if body is not None or form is not None:
        text = form if form is not None else json.dumps(
            body, separators=(",", ":"), ensure_ascii=False)
        req["bodySize"] = len(text.encode())
        req["postData"] = {
            "mimeType": ("application/x-www-form-urlencoded"
                         if form is not None else "application/json"),
            "text": text,
        }
    reasons = {200: "OK", 204: "No Content", 410: "Gone",
               429: "Too Many Requests", 503: "Service Unavailable"}
    if resp is None:
        content = {"size": 0, "mimeType": "", "text": ""}
        head = [("Date", date)]
    else:
        text = json.dumps(resp, separators=(",", ":"), ensure_ascii=False)
        content = {"size": len(text.encode()),
                   "mimeType": "application/json; charset=utf-8",
                   "text": text}
        head = [("Date", date),
                ("Content-Type", "application/json; charset=utf-8")]
    head += list(resp_headers)
    return {
        "startedDateTime": iso(date),
        "time": 0,
        "request": req,
        "response": {
            "status": status,
            "statusText": reasons[status],
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": hdrs(head),
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": content["size"],
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
    }


def token(date, scope, n):
    form = ("grant_type=client_credentials&client_id=" + CLIENT +
            "&client_secret=REDACTED&scope=" +
            scope.replace(":", "%3A").replace("/", "%2F"))
    return entry("POST", f"{LOGIN}/{TENANT}/oauth2/v2.0/token", date, 200,
                 form=form,
                 resp={"token_type": "Bearer", "expires_in": 3599,
                       "ext_expires_in": 3599, "access_token": "REDACTED"},
                 resp_headers=[("Cache-Control", "no-store, no-cache"),
                               ("x-ms-request-id",
                                f"0f3a7c2e-9b1d-4c5e-8f6a-2d3b4c5d6e{n:02d}"),
                               ("x-ms-ests-server", "2.1.17396.6 - WEULR1 ProdSlices")])


def write(job, entries):
    har = {"log": {"version": "1.2",
                   "creator": {"name": "cairn", "version": "0.1.0"},
                   "comment": COMMENT.format(job=job),
                   "entries": entries}}
    path = os.path.join("fixtures", job + ".har")
    with open(path, "w") as f:
        json.dump(har, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(path, len(entries), "entries")


def arm_headers(reqid, remaining):
    return [("x-ms-request-id", reqid), ("x-ms-correlation-request-id", reqid),
            ("x-ms-ratelimit-remaining-subscription-reads", str(remaining)),
            ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")]


# ---- 1. Azure Resource Graph -------------------------------------------------
def resource_graph():
    s1 = "cfbbd179-59d2-4052-aa06-9270a38aa9d6"
    s2 = "3f9c2a4e-7b1d-4e8a-9c6f-2d1e0b7a5c34"
    url = f"{ARM}/providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01"
    query = ("Resources | project id, name, type, location, tags, "
             "subscriptionId, resourceGroup | order by id asc")

    def body(tok=None):
        o = {"$top": 1000, "resultFormat": "objectArray"}
        if tok:
            o["$skipToken"] = tok
        return {"query": query, "options": o}

    def res(sub, rg, prov, name, typ, loc, tags):
        return {"id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{prov}/{name}",
                "name": name.split("/")[-1], "type": typ, "location": loc,
                "tags": tags, "subscriptionId": sub, "resourceGroup": rg.lower()}

    rows = [
        res(s2, "RG-NET", "Microsoft.Network/networkSecurityGroups", "nsg-hub",
            "microsoft.network/networksecuritygroups", "westeurope",
            {"Environment": "prod", "CostCenter": "1234"}),
        res(s2, "RG-NET", "Microsoft.Network/publicIPAddresses", "pip-gw",
            "microsoft.network/publicipaddresses", "westeurope", None),
        res(s2, "rg-shared", "Microsoft.KeyVault/vaults", "kv-shared-01",
            "microsoft.keyvault/vaults", "westeurope",
            {"env": "prod", "owner": "team-sec"}),
        res(s1, "RG-App", "Microsoft.Compute/disks", "vm-app-01_OsDisk_1_f3961e2b",
            "microsoft.compute/disks", "eastus", {"env": "prod", "owner": "team-app"}),
        res(s1, "RG-App", "Microsoft.Compute/virtualMachines", "vm-app-01",
            "microsoft.compute/virtualmachines", "eastus",
            {"env": "prod", "owner": "team-app", "patch-window": "sun-02:00"}),
        res(s1, "RG2", "Microsoft.Automation/automationAccounts", "TestAA",
            "microsoft.automation/automationaccounts", "westcentralus", {}),
        res(s1, "RG2", "Microsoft.Automation/automationAccounts", "TestAA/runbooks/TestRB",
            "microsoft.automation/automationaccounts/runbooks", "westcentralus",
            {"Owner": "ops"}),
        res(s1, "rg-dev", "Microsoft.Web/sites", "app-dev-01", "microsoft.web/sites",
            "global", {"Environment": "dev", "owner": "team-web", "build": "42"}),
    ]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    t1 = ("ew0KICAiJGlkIjogIjEiLA0KICAiTWF4Um93cyI6IDEwMDAsDQogICJSb3dzVG9Ta2lwIjogMywNCiAg"
          "Ikt1c3RvQ2x1c3RlclVybCI6ICJodHRwczovL2FyZy13ZXUtb25lLXNmLmFyZy5jb3JlLndpbmRvd3MubmV0Ig0KfQ==")
    t2 = ("ew0KICAiJGlkIjogIjEiLA0KICAiTWF4Um93cyI6IDEwMDAsDQogICJSb3dzVG9Ta2lwIjogNiwNCiAg"
          "Ikt1c3RvQ2x1c3RlclVybCI6ICJodHRwczovL2FyZy13ZXUtb25lLXNmLmFyZy5jb3JlLndpbmRvd3MubmV0Ig0KfQ==")

    def page(data, tok):
        p = {"totalRecords": len(rows), "count": len(data),
             "resultTruncated": "false", "facets": [], "data": data}
        if tok:
            p["$skipToken"] = tok
        return p

    def quota(reqid, remaining, resets):
        return [("x-ms-request-id", reqid), ("x-ms-correlation-request-id", reqid),
                ("x-ms-user-quota-remaining", str(remaining)),
                ("x-ms-user-quota-resets-after", resets),
                ("x-ms-ratelimit-remaining-tenant-resource-requests", str(remaining))]

    d = "Tue, 05 Mar 2024 06:00:0{}"
    write("azure-resource-graph", [
        token(d.format("0 GMT"), "https://management.azure.com/.default", 1),
        entry("POST", url, d.format("0 GMT"), 200, body=body(),
              resp=page(rows[0:3], t1),
              resp_headers=quota("6b6f1c3e-0d2a-4c1b-9e8f-7a6b5c4d3e11", 14, "00:00:05")),
        # Page 2 first runs into the per-user quota (ARM 429 + ARG headers).
        entry("POST", url, d.format("1 GMT"), 429, body=body(t1),
              resp={"error": {"code": "RateLimiting",
                              "message": "Please provide below info when asking for support: timestamp = 2024-03-05T06:00:01.0000000Z, correlationId = 6b6f1c3e-0d2a-4c1b-9e8f-7a6b5c4d3e12. Details: Rate limit exceeded for the user. Please retry after 00:00:01."}},
              resp_headers=[("Retry-After", "1")] +
              quota("6b6f1c3e-0d2a-4c1b-9e8f-7a6b5c4d3e12", 0, "00:00:01")),
        # The retry: the quota is left at 0 again, so the client paces page 3.
        entry("POST", url, d.format("2 GMT"), 200, body=body(t1),
              resp=page(rows[3:6], t2),
              resp_headers=quota("6b6f1c3e-0d2a-4c1b-9e8f-7a6b5c4d3e13", 0, "00:00:01")),
        entry("POST", url, d.format("3 GMT"), 200, body=body(t2),
              resp=page(rows[6:8], None),
              resp_headers=quota("6b6f1c3e-0d2a-4c1b-9e8f-7a6b5c4d3e14", 13, "00:00:04")),
    ])


# ---- 2. Cost Management Query ------------------------------------------------
def cost_query():
    sub = "cfbbd179-59d2-4052-aa06-9270a38aa9d6"
    url = f"{ARM}/subscriptions/{sub}/providers/Microsoft.CostManagement/query?api-version=2023-11-01"
    nxt = (f"{ARM}/subscriptions/{sub}/providers/Microsoft.CostManagement/Query"
           "?api-version=2021-10-01&$skiptoken=AQAAAA%3D%3D")

    def body(start, end):
        return {"type": "ActualCost", "timeframe": "Custom",
                "timePeriod": {"from": start, "to": end},
                "dataset": {"granularity": "Daily",
                            "aggregation": {"totalCost": {"name": "PreTaxCost", "function": "Sum"}},
                            "grouping": [{"type": "Dimension", "name": "ResourceId"},
                                         {"type": "Dimension", "name": "ServiceName"}],
                            "filter": {"dimensions": {"name": "ChargeType", "operator": "In",
                                                      "values": ["Usage"]}}}}

    rg = f"/subscriptions/{sub}/resourcegroups"
    vm = f"{rg}/rg-app/providers/microsoft.compute/virtualmachines/vm-app-01"
    disk = f"{rg}/rg-app/providers/microsoft.compute/disks/vm-app-01_osdisk_1_f3961e2b"
    aa = f"{rg}/rg2/providers/microsoft.automation/automationaccounts/testaa"
    web = f"/subscriptions/{sub}/resourceGroups/rg-dev/providers/Microsoft.Web/sites/app-dev-01"
    cols = [{"name": "PreTaxCost", "type": "Number"}, {"name": "UsageDate", "type": "Number"},
            {"name": "ResourceId", "type": "String"}, {"name": "ServiceName", "type": "String"},
            {"name": "Currency", "type": "String"}]

    def result(rows, link):
        return {"id": f"subscriptions/{sub}/providers/Microsoft.CostManagement/query/5f1b7c3e-8d2a-4e6f-9a0b-1c2d3e4f5a6b",
                "name": "5f1b7c3e-8d2a-4e6f-9a0b-1c2d3e4f5a6b",
                "type": "Microsoft.CostManagement/query", "location": None,
                "sku": None, "eTag": None,
                "properties": {"nextLink": link, "columns": cols, "rows": rows}}

    def qpu(reqid, consumed, remaining):
        return [("x-ms-request-id", reqid), ("x-ms-correlation-request-id", reqid),
                ("x-ms-ratelimit-microsoft.costmanagement-qpu-consumed", str(consumed)),
                ("x-ms-ratelimit-microsoft.costmanagement-qpu-remaining", remaining)]

    apr, may = body("2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z"), \
        body("2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z")
    write("azure-cost-query", [
        token("Mon, 03 Jun 2024 05:00:00 GMT", "https://management.azure.com/.default", 1),
        # April: the subscription had no usage yet -> 204, no body.
        entry("POST", url, "Mon, 03 Jun 2024 05:00:00 GMT", 204, body=apr,
              resp_headers=qpu("c0a1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a01", 1,
                               "QueryResource=11;Tenant=59;")),
        entry("POST", url, "Mon, 03 Jun 2024 05:00:01 GMT", 200, body=may,
              resp=result([
                  [12.7394816, 20240501, vm, "Virtual Machines", "USD"],
                  [0.4838709677419368, 20240501, disk, "Storage", "USD"],
                  [0, 20240501, aa, "Automation", "USD"],
                  [19.545363672276512, 20240501, web, "Azure App Service", "USD"],
              ], nxt),
              resp_headers=qpu("c0a1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a02", 1,
                               "QueryResource=10;Tenant=58;")),
        # The next page: over the QPU quota first (Cost Management 429).
        entry("POST", nxt, "Mon, 03 Jun 2024 05:00:02 GMT", 429, body=may,
              resp={"error": {"code": "429",
                              "message": "Too many requests. Please retry after 1 seconds."}},
              resp_headers=[("x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after", "1"),
                            ("x-ms-ratelimit-microsoft.costmanagement-entity-retry-after", "1"),
                            ("x-ms-request-id", "c0a1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a03")]),
        entry("POST", nxt, "Mon, 03 Jun 2024 05:00:04 GMT", 200, body=may,
              resp=result([
                  [12.7394816, 20240502, vm, "Virtual Machines", "USD"],
                  [0.4838709677419368, 20240502, disk, "Storage", "USD"],
                  [0.000128, 20240502, vm, "Bandwidth", "USD"],
              ], None),
              resp_headers=qpu("c0a1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a04", 1,
                               "QueryResource=11;Tenant=57;")),
    ])


# ---- 3. Policy states ----------------------------------------------------------
def policy_states():
    sub = "fffedd8f-ffff-fffd-fffd-fffed2f84852"
    base = f"{ARM}/subscriptions/{sub}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults"
    url = base + "?api-version=2019-10-01"
    ctx = f"{ARM}/subscriptions/{sub}/providers/Microsoft.PolicyInsights/policyStates/$metadata#latest"
    asb = "/providers/Microsoft.Authorization/policySetDefinitions/1f3afdf9-d0c9-4c3d-847f-89da613e70a8"
    asg = f"/subscriptions/{sub}/providers/Microsoft.Authorization/policyAssignments/SecurityCenterBuiltIn"
    solo = f"/subscriptions/{sub}/providers/Microsoft.Authorization/policyAssignments/9ac09b0657d942e5ad4041a6"

    def state(ts, rid, rtype, rg, defn, action, assignment, setid, ref, comp,
              iscomp, groups):
        s = {"@odata.id": None, "@odata.context": ctx + "/$entity",
             "timestamp": ts, "resourceId": rid, "policyAssignmentId": assignment,
             "policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/" + defn,
             "effectiveParameters": "", "isCompliant": iscomp,
             "subscriptionId": sub, "resourceType": rtype,
             "resourceLocation": "eastus", "resourceGroup": rg, "resourceTags": "tbd",
             "policyAssignmentName": assignment.rsplit("/", 1)[1],
             "policyAssignmentOwner": "tbd", "policyAssignmentParameters": "{}",
             "policyAssignmentScope": f"/subscriptions/{sub}",
             "policyDefinitionName": defn, "policyDefinitionAction": action,
             "policyDefinitionCategory": "tbd",
             "policySetDefinitionId": setid,
             "policySetDefinitionName": setid.rsplit("/", 1)[1] if setid else "",
             "policySetDefinitionOwner": None, "policySetDefinitionCategory": None,
             "policySetDefinitionParameters": None,
             "managementGroupIds": "mymg,fff988bf-fff1-ffff-fffb-fffcd011db47",
             "policyDefinitionReferenceId": ref, "complianceState": comp}
        if groups is not None:
            s["policyDefinitionGroupNames"] = groups
        return s

    r = f"/subscriptions/{sub}/resourceGroups"
    p1 = [
        state("2024-03-06T04:48:05Z", f"{r}/myrg1/providers/Microsoft.Network/publicIPAddresses/mypubip1",
              "/Microsoft.Network/publicIPAddresses", "myrg1",
              "9daedab3-fb2d-461e-b861-71790eead4f6", "AuditIfNotExists", asg, asb,
              "publicIpAddressesShouldBeProtected", "NonCompliant", False,
              ["Azure_Security_Benchmark_v3.0_NS-1", "Azure_Security_Benchmark_v3.0_NS-5"]),
        state("2024-03-06T04:48:07Z", f"{r}/myrg1/providers/Microsoft.Storage/storageAccounts/stapp01",
              "/Microsoft.Storage/storageAccounts", "myrg1",
              "34c877ad-507e-4c82-993e-3452a6e0ad3c", "Audit", asg, asb,
              "storageAccountsShouldRestrictNetworkAccess", "Compliant", True, []),
        state("2024-03-06T04:50:11Z", f"{r}/myrg2/providers/Microsoft.Compute/virtualMachines/vm-web-01",
              "/Microsoft.Compute/virtualMachines", "myrg2",
              "06a78e20-9358-41c9-923c-fb736d382a4d", "AuditIfNotExists", solo, "",
              "", "Compliant", True, None),
    ]
    p3 = [
        state("2024-03-06T04:51:00Z", f"{r}/myrg3/providers/Microsoft.KeyVault/vaults/kv-ops-01",
              "/Microsoft.KeyVault/vaults", "myrg3",
              "0b60c0b2-2dc2-4e1c-b5c9-abbed971de53", "Audit", asg, asb,
              "keyVaultsShouldHaveDeletionProtectionEnabled", "Exempt", False,
              ["Azure_Security_Benchmark_v3.0_DP-8"]),
        # Legacy shape: no complianceState, only the boolean.
        state("2024-03-06T04:52:30Z", f"{r}/MyRG3/providers/Microsoft.Sql/servers/SQL-OPS-01",
              "/Microsoft.Sql/servers", "myrg3",
              "abfb4388-5bf4-4ad7-ba82-2cd2f41ceae9", "AuditIfNotExists", asg, asb,
              "sqlServerAdvancedDataSecurity", None, True,
              ["Azure_Security_Benchmark_v3.0_IR-2", "Azure_Security_Benchmark_v3.0_IR-3",
               "Azure_Security_Benchmark_v3.0_IR-5"]),
    ]
    n1 = base + "?api-version=2019-10-01&$skipToken=WpmWfBSvPhkAK6QD"
    n2 = base + "?api-version=2019-10-01&$skipToken=WpmWfBSvPhkAK6QDWpmWfBSvPhkAK6QD"
    cnt = len(p1) + len(p3)
    d = "Wed, 06 Mar 2024 05:30:0{} GMT"
    write("azure-policy-states", [
        token(d.format(0), "https://management.azure.com/.default", 1),
        entry("POST", url, d.format(0), 200,
              resp={"@odata.context": ctx, "@odata.count": cnt,
                    "@odata.nextLink": n1, "value": p1},
              resp_headers=arm_headers("d6f1e2a3-b4c5-4d6e-8f70-81920a1b2c01", 11998)),
        entry("POST", n1, d.format(1), 429,
              resp={"error": {"code": "TooManyRequests",
                              "message": "The request was throttled. Please retry after 1 seconds."}},
              resp_headers=[("Retry-After", "1")] +
              arm_headers("d6f1e2a3-b4c5-4d6e-8f70-81920a1b2c02", 0)),
        # An empty page that still carries a next link.
        entry("POST", n1, d.format(3), 200,
              resp={"@odata.context": ctx, "@odata.count": cnt,
                    "@odata.nextLink": n2, "value": []},
              resp_headers=arm_headers("d6f1e2a3-b4c5-4d6e-8f70-81920a1b2c03", 11997)),
        entry("POST", n2, d.format(4), 200,
              resp={"@odata.context": ctx, "@odata.count": cnt, "value": p3},
              resp_headers=arm_headers("d6f1e2a3-b4c5-4d6e-8f70-81920a1b2c04", 11996)),
    ])


# ---- 4. Sentinel incidents -----------------------------------------------------
def sentinel():
    sub, rg, ws = "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0", "myRg", "myWorkspace"
    path = (f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/"
            f"workspaces/{ws}/providers/Microsoft.SecurityInsights/incidents")
    q = ("?api-version=2024-09-01&$filter=properties/lastModifiedTimeUtc%20ge%201970-01-01T00:00:00Z"
         "&$orderby=properties/lastModifiedTimeUtc%20asc")
    url = ARM + path + q
    nxt = url + "&$skipToken=U2VudGluZWxJbmNpZGVudHNQYWdlMg%3D%3D"

    def inc(guid, num, title, sev, status, cls, created, modified, owner):
        p = {"title": title, "description": "", "severity": sev, "status": status,
             "incidentNumber": num, "providerName": "Azure Sentinel",
             "providerIncidentId": str(num),
             "incidentUrl": ("https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident"
                             f"{path}/{guid}"),
             "createdTimeUtc": created, "lastModifiedTimeUtc": modified,
             "firstActivityTimeUtc": created, "lastActivityTimeUtc": created,
             "labels": [], "owner": owner,
             "additionalData": {"alertsCount": 1, "bookmarksCount": 0, "commentsCount": 0,
                                "alertProductNames": ["Azure Sentinel"], "tactics": ["InitialAccess"]},
             "relatedAnalyticRuleIds": []}
        if cls:
            p["classification"] = cls
        return {"id": f"{path}/{guid}", "name": guid,
                "type": "Microsoft.SecurityInsights/incidents",
                "etag": f"\"{guid[:8]}-0000-0000-0000-5c37296e0000\"", "properties": p}

    nobody = {"objectId": None, "email": None, "assignedTo": None, "userPrincipalName": None}
    p1 = [
        inc("73e01a99-5cd7-4139-a149-9f2736ff2ab5", 3177, "My incident", "High", "Closed",
            "FalsePositive", "2024-03-01T13:15:30Z", "2024-03-02T08:00:00Z",
            {"objectId": "2046feea-040d-4a46-9e2b-91c2941bfa70", "email": "john.doe@contoso.com",
             "assignedTo": "john doe", "userPrincipalName": "john@contoso.com"}),
        inc("8f1c6e2a-3b4d-4e5f-a6b7-c8d9e0f1a2b3", 3180, "Suspicious sign-in from TOR exit node",
            "Medium", "Active", None, "2024-03-04T22:41:07.1234567Z", "2024-03-05T09:12:44.5Z", nobody),
    ]
    p2 = [
        inc("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", 3183, "Mass download by a single user",
            "Low", "New", None, "2024-03-06T17:03:12Z", "2024-03-06T17:03:12Z", nobody),
        inc("9e8d7c6b-5a4f-4e3d-2c1b-0a9f8e7d6c5b", 3184, "Rare process on a domain controller",
            "Informational", "New", None, "2024-03-07T01:55:00Z", "2024-03-07T01:55:00Z", nobody),
    ]
    d = "Thu, 07 Mar 2024 03:00:0{} GMT"
    write("sentinel-incidents", [
        token(d.format(0), "https://management.azure.com/.default", 1),
        entry("GET", url, d.format(0), 200, resp={"value": p1, "nextLink": nxt},
              resp_headers=arm_headers("e1d2c3b4-a596-4877-8695-a4b3c2d1e001", 11999)),
        entry("GET", nxt, d.format(1), 429,
              resp={"error": {"code": "TooManyRequests",
                              "message": "Too many requests, please retry after 1 seconds."}},
              resp_headers=[("Retry-After", "1")] +
              arm_headers("e1d2c3b4-a596-4877-8695-a4b3c2d1e002", 0)),
        entry("GET", nxt, d.format(3), 200, resp={"value": p2},
              resp_headers=arm_headers("e1d2c3b4-a596-4877-8695-a4b3c2d1e003", 11998)),
    ])


# ---- 5. Defender for Cloud alerts ---------------------------------------------
def defender():
    sub = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
    url = f"{ARM}/subscriptions/{sub}/providers/Microsoft.Security/alerts?api-version=2022-01-01"
    nxt = url + "&$skipToken=RGVmZW5kZXJBbGVydHNQYWdlMg%3D%3D"

    def alert(sysid, loc, atype, name, sev, status, gen, entity, rid):
        return {"id": f"/subscriptions/{sub}/resourceGroups/myRg1/providers/Microsoft.Security/locations/{loc}/alerts/{sysid}",
                "name": sysid, "type": "Microsoft.Security/Locations/alerts",
                "properties": {
                    "status": status, "timeGeneratedUtc": gen,
                    "processingEndTimeUtc": gen, "version": "2022-01-01.0",
                    "vendorName": "Microsoft", "productName": "Microsoft Defender for Cloud",
                    "alertType": atype, "startTimeUtc": gen, "endTimeUtc": gen,
                    "severity": sev, "isIncident": False, "systemAlertId": sysid,
                    "intent": "Execution", "resourceIdentifiers": [
                        {"type": "AzureResource", "azureResourceId": rid},
                        {"type": "LogAnalytics", "workspaceId": "f419f624-acad-4d89-b86d-f62fa387f019",
                         "workspaceSubscriptionId": sub, "workspaceResourceGroup": "myRg1",
                         "agentId": "75724a01-f021-4aa8-9ec2-329792373e6e"}],
                    "compromisedEntity": entity, "alertDisplayName": name,
                    "description": name + ".", "remediationSteps": ["No further action is needed."],
                    "alertUri": ("https://portal.azure.com/#blade/Microsoft_Azure_Security/AlertBlade/"
                                 f"alertId/{sysid}/subscriptionId/{sub}/resourceGroup/myRg1/"
                                 f"referencedFrom/alertDeepLink/location/{loc}"),
                    "extendedProperties": {}, "entities": []}}

    vm = f"/subscriptions/{sub}/resourceGroups/myRg1/providers/Microsoft.Compute/virtualMachines/vm1"
    st = f"/subscriptions/{sub}/resourceGroups/myRg1/providers/Microsoft.Storage/storageAccounts/stlogs01"
    p1 = [
        alert("2518298467986649999_4d25bfef-2d77-4a08-adc0-3e35715cc92a", "westeurope", "VM_EICAR",
              "Azure Security Center test alert (not a threat)", "High", "Active",
              "2024-03-07T13:47:58.0000000Z", "vm1", vm),
        alert("2518298467986649998_8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "westeurope",
              "Storage.Blob_AnonymousAccessAnomaly", "Unusual unauthenticated access to a storage container",
              "Medium", "InProgress", "2024-03-07T09:02:11.1234567Z", "stlogs01", st),
    ]
    p2 = [
        alert("2518298467986649997_0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "westeurope",
              "VM_SuspiciousCommandLine", "Suspicious command line detected", "Low", "Resolved",
              "2024-03-06T22:15:40.5000000Z", "vm1", vm),
        alert("2518298467986649996_5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", "westeurope",
              "VM_VbScriptHttpObjectAllocation", "VBScript HTTP object allocation detected",
              "Informational", "Dismissed", "2024-03-05T04:00:00.0000000Z", "vm1", vm),
    ]
    d = "Fri, 08 Mar 2024 04:00:0{} GMT"
    write("defender-alerts", [
        token(d.format(0), "https://management.azure.com/.default", 1),
        entry("GET", url, d.format(0), 200, resp={"value": p1, "nextLink": nxt},
              resp_headers=arm_headers("f0e1d2c3-b4a5-4968-8776-a5b4c3d2e101", 11999)),
        entry("GET", nxt, d.format(1), 429,
              resp={"error": {"code": "TooManyRequests",
                              "message": "The request is being throttled. Retry after 1 seconds."}},
              resp_headers=[("Retry-After", "1")] +
              arm_headers("f0e1d2c3-b4a5-4968-8776-a5b4c3d2e102", 0)),
        entry("GET", nxt, d.format(3), 200, resp={"value": p2},
              resp_headers=arm_headers("f0e1d2c3-b4a5-4968-8776-a5b4c3d2e103", 11998)),
    ])


# ---- 6. Entra ID users (Graph delta) --------------------------------------------
def entra_users():
    sel = "displayName,userPrincipalName,mail,accountEnabled,department"
    first = f"{GRAPH}/v1.0/users/delta?$select={sel}"
    ctx = f"{GRAPH}/v1.0/$metadata#users({sel})"
    s1 = f"{GRAPH}/v1.0/users/delta?$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1LecfkkfLPtnIjsXoYQp_dpA3cNJWcY4cNW5nGwzV0yvZ4J4y3Kx2A"
    s2 = f"{GRAPH}/v1.0/users/delta?$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1LecfkkfLPtnIjsXoYQp_dpA3cNJWcY4cNW5nGwzV0yvZ4J4y3Kx2B"
    d1 = f"{GRAPH}/v1.0/users/delta?$deltatoken=oEcOySpF_hWYmTIUZBOIfPzcwisr_rPe8o9M54L45qEXQGmvQC6T2dbL-9O7nSU-njKhFiGlAZqewNAThmCVnNxqPu5gOBegrm1CaVZ-ZtFZ2tPOAO98OD9y0ao460"
    s3 = f"{GRAPH}/v1.0/users/delta?$skiptoken=Z2xvYmFsX2RlbHRhX3JvdW5kXzFfcGFnZV8y_LecfkkfLPtnIjsXoYQp_dpA3cNJWcY4cNW5nGwzV0yvZ4J4y3Kx2C"
    d2 = f"{GRAPH}/v1.0/users/delta?$deltatoken=lGZ2yxG3jd6EDsVqwOCzJrUHRiM0FyJqYSWKtq0x3v4Xp8o0a7xW4aOQZj2FhTp3Zhw1lFh9Ab8Kq2Q6rL0m_6Tq0Gn1l2"
    d3 = f"{GRAPH}/v1.0/users/delta?$deltatoken=c3ZkUm91bmQzX25vX2NoYW5nZXNfT0VjT3lTcEZfaFdZbVRJVVpCT0lmUHpjd2lzcl9yUGU4bzlN"

    def user(uid, name, upn, mail, enabled, dept):
        return {"displayName": name, "userPrincipalName": upn, "mail": mail,
                "accountEnabled": enabled, "department": dept, "id": uid}

    lidia = user("25dcffff-959e-4ece-9973-e5d9b800e8cc", "Lidia Holloway", "LidiaH@contoso.example",
                 "LidiaH@contoso.example", True, "Product Operations")
    adele = user("87d349ed-44d7-43e1-9a83-5f2406dee5bd", "Adele Vance", "AdeleV@contoso.example",
                 "AdeleV@contoso.example", True, "Retail")
    alex = user("9a1b2c3d-4e5f-4061-8a7b-8c9d0e1f2a3b", "Alex Wilber", "AlexW@contoso.example",
                "AlexW@contoso.example", False, "Marketing")
    megan = user("5bde3e51-d13b-4db1-9948-fe4b109d11a7", "Megan Bowen", "MeganB@contoso.example",
                 "MeganB@contoso.example", True, "Marketing")
    guest = user("c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f", "John Doe (Fabrikam)",
                 "john.doe_fabrikam.example#EXT#@contoso.onmicrosoft.com", "John.Doe@Fabrikam.example",
                 True, None)
    svc = user("d4e5f6a7-b8c9-4d0e-9f1a-2b3c4d5e6f70", "svc-backup", "svc-backup@contoso.example",
               None, True, "IT")
    gone = {"id": "86462606-fde0-4fc4-9e0c-a20eb73e54c6", "@removed": {"reason": "deleted"}}
    adele2 = dict(adele, department="Retail Leadership")
    megan_gone = {"id": megan["id"], "@removed": {"reason": "changed"}}
    nestor = user("e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a81", "Nestor Wilke", "NestorW@contoso.example",
                  "NestorW@contoso.example", True, "Operations")

    def graph_headers(n, ru="1"):
        rid = f"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c{n:02d}"
        return [("request-id", rid), ("client-request-id", rid),
                ("x-ms-ags-diagnostic", '{"ServerInfo":{"DataCenter":"West Europe","Slice":"E","Ring":"5","ScaleUnit":"002","RoleInstance":"AM2PEPF0001A2B3"}}'),
                ("x-ms-resource-unit", ru)]

    def g(url, date, n, resp, status=200, extra=()):
        return entry("GET", url, date, status, resp=resp, corr="client-request-id",
                     resp_headers=list(extra) + graph_headers(n))

    d = "Thu, 07 Mar 2024 02:00:0{} GMT"
    r2 = "Fri, 08 Mar 2024 02:00:0{} GMT"
    write("entra-users", [
        token(d.format(0), "https://graph.microsoft.com/.default", 1),
        # Round 1 (full): nextLink pages until the deltaLink.
        g(first, d.format(0), 1, {"@odata.context": ctx, "@odata.nextLink": s1,
                                   "value": [lidia, adele, alex]}),
        g(s1, d.format(1), 2, {"error": {"code": "TooManyRequests",
                                         "message": "Too many requests.",
                                         "innerError": {"date": "2024-03-07T02:00:01",
                                                        "request-id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c02",
                                                        "client-request-id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c02"}}},
          status=429,
          extra=[("Retry-After", "1"),
                 ("x-ms-throttle-scope", f"Tenant_Application/ReadWrite/{CLIENT}/{TENANT}"),
                 ("x-ms-throttle-information", "ResourceUnitLimitExceeded")]),
        # A page may be empty and still carry a nextLink.
        g(s1, d.format(3), 3, {"@odata.context": ctx, "@odata.nextLink": s2, "value": []}),
        g(s2, d.format(4), 4, {"@odata.context": ctx, "@odata.deltaLink": d1,
                               "value": [megan, guest, svc, gone]}),
        # Round 2 (the next day, from the saved deltaLink): changes only.
        token(r2.format(0), "https://graph.microsoft.com/.default", 2),
        g(d1, r2.format(0), 5, {"@odata.context": ctx, "@odata.nextLink": s3,
                                "value": [adele2, megan_gone]}),
        g(s3, r2.format(1), 6, {"@odata.context": ctx, "@odata.deltaLink": d2,
                                "value": [nestor]}),
        # Round 3: nothing changed.
        g(d2, "Sat, 09 Mar 2024 02:00:00 GMT", 7,
          {"@odata.context": ctx, "@odata.deltaLink": d3, "value": []}),
    ])


if __name__ == "__main__":
    if not os.path.isdir("fixtures") or not os.path.isdir("jobs"):
        sys.exit("run from the repository root")
    resource_graph()
    cost_query()
    policy_states()
    sentinel()
    defender()
    entra_users()
