#!/usr/bin/env python3
"""A ServiceNow Table API on loopback whose data changes between runs, for
tests/cli/watermark_resume.sh: GET /api/now/table/<table> answers the
records of DATA.json (re-read on every request: {"<table>": [record, ...]})
that pass sysparm_query's leading "sys_updated_on>=<mark>", ordered by
sys_updated_on then sys_id, sysparm_limit of them from sysparm_offset,
with an RFC 8288 Link rel="next" (the same query, offset advanced) while
more follow, and X-Total-Count. Each request's sysparm_query and offset
go to LOG, one line each. Prints "listening http://127.0.0.1:PORT" first.

usage: servicenow_server.py DATA.json LOG
"""
import json
import sys
from urllib.parse import parse_qs, urlencode, urlsplit

from loopback import JSONHandler, serve

DATA, LOG = sys.argv[1], sys.argv[2]


class Handler(JSONHandler):
    def do_GET(self):
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        table = u.path.rsplit("/", 1)[-1]
        mark = q.get("sysparm_query", "").split("^")[0].partition(">=")[2]
        off, lim = int(q.get("sysparm_offset", "0")), int(q.get("sysparm_limit", "10000"))
        with open(LOG, "a") as f:
            f.write("%s offset=%d\n" % (q.get("sysparm_query", ""), off))
        with open(DATA) as f:
            rows = json.load(f).get(table, [])
        rows = sorted((r for r in rows if r["sys_updated_on"] >= mark),
                      key=lambda r: (r["sys_updated_on"], r["sys_id"]))
        headers = {"X-Total-Count": str(len(rows))}
        if off + lim < len(rows):
            q["sysparm_offset"] = str(off + lim)
            headers["Link"] = '<http://%s%s?%s>;rel="next"' % (
                self.headers.get("Host"), u.path, urlencode(q))
        self.answer(200, {"result": rows[off:off + lim]}, headers)


serve(Handler)
