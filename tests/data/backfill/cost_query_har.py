#!/usr/bin/env python3
"""cost_query_har.py KIND FROM TO OUT.har [--pages]: a Cost Management Query
recording of jobs/azure-cost-query.json (KIND month) or of a copy with
"window": "day", one query per window from FROM up to TO (exclusive),
every day 3 rows when odd, 2 when even; --pages splits each answer in two
pages. OUT.har.expected gets the rows as "day<TAB>resourceId<TAB>cost",
sorted."""
import json, sys, datetime as dt
kind, a, b, out = sys.argv[1:5]
pages = '--pages' in sys.argv
SUB = 'subscriptions/cfbbd179-59d2-4052-aa06-9270a38aa9d6'
BASE = 'https://management.azure.com'
def parse(s):
    return dt.date.fromisoformat(s + ('-01' if len(s) == 7 else ''))
def nxt(d):
    if kind == 'day': return d + dt.timedelta(days=1)
    return (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
def z(d): return d.strftime('%Y-%m-%dT00:00:00Z')
def body(s, e):
    last = (dt.datetime.combine(e, dt.time()) - dt.timedelta(seconds=1)).strftime('%Y-%m-%dT%H:%M:%SZ')
    return json.dumps({"type":"ActualCost","timeframe":"Custom","timePeriod":{"from":z(s),"to":last},
      "dataset":{"granularity":"Daily","aggregation":{"totalCost":{"name":"PreTaxCost","function":"Sum"}},
      "grouping":[{"type":"Dimension","name":"ResourceId"},{"type":"Dimension","name":"ServiceName"}],
      "filter":{"dimensions":{"name":"ChargeType","operator":"In","values":["Usage"]}}}}, separators=(',',':'))
def entry(url, b, status, text, qs):
    return {"startedDateTime":"2024-06-03T05:00:01.000Z","time":0,
      "request":{"method":"POST","url":url,"httpVersion":"HTTP/1.1","cookies":[],"headers":[{"name":"Content-Type","value":"application/json"}],
        "queryString":qs,"headersSize":-1,"bodySize":len(b),"postData":{"mimeType":"application/json","text":b}},
      "response":{"status":status,"statusText":"OK","httpVersion":"HTTP/1.1","cookies":[],"headers":[{"name":"Content-Type","value":"application/json"}],
        "content":{"size":len(text),"mimeType":"application/json","text":text},"redirectURL":"","headersSize":-1,"bodySize":len(text)},
      "cache":{},"timings":{"send":0,"wait":0,"receive":0}}
tok = 'grant_type=client_credentials&client_id=6731de76-14a6-49ae-97bc-6eba6914391e&client_secret=REDACTED&scope=https%3A%2F%2Fmanagement.azure.com%2F.default'
entries = [{"startedDateTime":"2024-06-03T05:00:00.000Z","time":0,
  "request":{"method":"POST","url":"https://login.microsoftonline.com/8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d/oauth2/v2.0/token","httpVersion":"HTTP/1.1","cookies":[],
    "headers":[{"name":"Content-Type","value":"application/x-www-form-urlencoded"}],"queryString":[],"headersSize":-1,"bodySize":len(tok),
    "postData":{"mimeType":"application/x-www-form-urlencoded","text":tok}},
  "response":{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","cookies":[],"headers":[{"name":"Content-Type","value":"application/json"}],
    "content":{"size":0,"mimeType":"application/json","text":"{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"REDACTED\"}"},"redirectURL":"","headersSize":-1,"bodySize":-1},
  "cache":{},"timings":{"send":0,"wait":0,"receive":0}}]
exp = []
cols = [{"name":"PreTaxCost","type":"Number"},{"name":"UsageDate","type":"Number"},{"name":"ResourceId","type":"String"},{"name":"ServiceName","type":"String"},{"name":"Currency","type":"String"}]
s = parse(a); end = parse(b)
while s < end:
    e = nxt(s)
    rows = []
    d = s
    while d < e:
        n = 3 if d.day % 2 else 2
        for i in range(n):
            cost = round(d.toordinal() % 97 + i * 0.25, 2)
            rid = f'/{SUB}/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm-{i}'
            rows.append([cost, int(d.strftime('%Y%m%d')), rid, 'Virtual Machines', 'USD'])
            exp.append(f"{d.isoformat()}\t{rid}\t{cost:g}")
        d += dt.timedelta(days=1)
    bd = body(s, e)
    url = f'{BASE}/{SUB}/providers/Microsoft.CostManagement/query?api-version=2023-11-01'
    qs = [{"name":"api-version","value":"2023-11-01"}]
    if pages and len(rows) > 1:
        half = len(rows) // 2
        tokn = 'tok' + s.strftime('%Y%m%d')
        nurl = f'{BASE}/{SUB}/providers/Microsoft.CostManagement/query?api-version=2023-11-01&$skiptoken={tokn}'
        t1 = json.dumps({"properties":{"nextLink":nurl,"columns":cols,"rows":rows[:half]}})
        t2 = json.dumps({"properties":{"nextLink":None,"columns":cols,"rows":rows[half:]}})
        entries.append(entry(url, bd, 200, t1, qs))
        entries.append(entry(nurl, bd, 200, t2, qs + [{"name":"$skiptoken","value":tokn}]))
    else:
        entries.append(entry(url, bd, 200, json.dumps({"properties":{"nextLink":None,"columns":cols,"rows":rows}}), qs))
    s = e
json.dump({"log":{"version":"1.2","creator":{"name":"gen","version":"1"},"entries":entries}}, open(out,'w'), indent=1)
open(out + '.expected','w').write('\n'.join(sorted(exp)) + '\n')
