#!/usr/bin/env python3
"""Writes a HAR of Microsoft Graph users/delta rounds for `cairn mock`
(tests/cli/delta_round_lapsed.sh). ROUNDS is a JSON list of rounds; each
round is {"start": "full" | DELTATOKEN, "pages": [PAGE, ...]} where a page
is a list of users ({"id": ..., ...} or {"id": ..., "@removed": {...}}),
or the string "410" for a page whose link has lapsed (410 resyncRequired).
Page k of a round is asked for with $skiptoken=<round>p<k> (k >= 2); the
last page gives $deltatoken=<round>d. Identical requests are answered in
recorded order (a second full round after the first).

usage: graph_rounds_har.py ROUNDS_JSON OUT.har
"""
import json
import sys

SELECT = "displayName,userPrincipalName,mail,accountEnabled,department"
BASE = "https://graph.microsoft.com/v1.0/users/delta"
TENANT = "8d5a6f1c-2b4e-4f7a-9c3d-1e2f3a4b5c6d"


def entry(method, url, query, status, body):
    text = json.dumps(body)
    return {
        "startedDateTime": "2024-03-09T02:00:00.000Z", "time": 0,
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1",
                    "cookies": [], "headers": [], "queryString": query,
                    "headersSize": -1, "bodySize": 0},
        "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1",
                     "cookies": [], "headers": [
                         {"name": "Date", "value": "Sat, 09 Mar 2024 02:00:00 GMT"},
                         {"name": "Content-Type", "value": "application/json"}],
                     "content": {"size": len(text), "mimeType": "application/json",
                                 "text": text},
                     "redirectURL": "", "headersSize": -1, "bodySize": len(text)},
        "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}


def main():
    rounds = json.loads(sys.argv[1])
    token = "https://login.microsoftonline.com/%s/oauth2/v2.0/token" % TENANT
    entries = [entry("POST", token, [], 200, {"token_type": "Bearer", "expires_in": 3599,
                                               "access_token": "REDACTED"})]
    entries[0]["request"]["postData"] = {"mimeType": "application/x-www-form-urlencoded",
                                         "text": "grant_type=client_credentials&client_id=REDACTED"
                                                 "&client_secret=REDACTED&scope=REDACTED"}
    for r, rnd in enumerate(rounds, 1):
        for k, page in enumerate(rnd["pages"], 1):
            if k > 1:
                name, value = "$skiptoken", "r%dp%d" % (r, k)
            elif rnd["start"] == "full":
                name, value = "$select", SELECT
            else:
                name, value = "$deltatoken", rnd["start"]
            url = "%s?%s=%s" % (BASE, name, value)
            query = [{"name": name, "value": value}]
            if page == "410":
                entries.append(entry("GET", url, query, 410, {"error": {
                    "code": "resyncRequired", "message": "Resync required."}}))
                continue
            body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
                    "value": page}
            if k < len(rnd["pages"]):
                body["@odata.nextLink"] = "%s?$skiptoken=r%dp%d" % (BASE, r, k + 1)
            else:
                body["@odata.deltaLink"] = "%s?$deltatoken=r%dd" % (BASE, r)
            entries.append(entry("GET", url, query, 200, body))
    har = {"log": {"version": "1.2", "creator": {"name": "graph_rounds_har.py", "version": "1"},
                   "entries": entries}}
    with open(sys.argv[2], "w") as f:
        json.dump(har, f, indent=1)


main()
