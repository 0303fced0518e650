#!/usr/bin/env python3
"""A hostile stand-in for Microsoft Graph users/delta and its token
endpoint, for tests/cli/http_hostile.sh: serves jobs/entra-users.json's
requests on 127.0.0.1 (the token at /TENANT/oauth2/v2.0/token, PAGES pages
of ROWS users each under /v1.0/users/delta, @odata.nextLink paging, the
last page with an @odata.deltaLink), and answers page AT (1-based; 0: the
token endpoint) with the fault KIND, TIMES times (0: every time), then
healthily. Every request is appended to LOG as "METHOD PATH FAULT|-".
Prints "listening http://127.0.0.1:PORT" first.

usage: hostile_server.py LOG [--pages N] [--rows R] [--fault KIND[=ARG]]
                         [--at N] [--times K] [--heal FILE] [--port P]

--heal FILE: no fault once FILE exists (the same server, healthy, for a
rerun that follows the checkpointed next links to its port).

Faults: status=CODE[,Header: value] (that status, with the header),
gzipbomb=MB / deflatebomb=MB (a 200 whose Content-Encoding inflates to MB
MiB of spaces), huge=MB (a 200 of MB MiB, Content-Length given),
hugechunked=MB (the same, chunked), stall (headers, then nothing), silent
(no response at all), trickle (the page one byte a second), closemid (half
the declared Content-Length, then close), closemid-nocl (half the page,
no Content-Length, then close), closeheaders (headers without
Content-Length, then close: an empty body), emptychunked (a chunked 200
with no chunk), shortcl (a Content-Length smaller than the page), badchunk
(a chunk size that is not hex), badjson (the page cut in half, complete
per Content-Length), notarray (value an object), novalue (no value, no
nextLink), empty (200, Content-Length 0), html (200 with an HTML page),
selfloop (the nextLink is the page itself), nextlink-ctl (a nextLink with
CR LF and spaces), endless (a fresh nextLink
every time, never the last page), redirect=URL (302 to URL), 401 (401
with a Graph error), token-garbage (the token endpoint answers HTML),
quota=HH:MM:SS (the page, saying its quota is spent
until HH:MM:SS from now), token-exp0 (expires_in 0), token-exphuge (expires_in 2^63-1),
token-noaccess (a token without access_token), token-crlf (an
access_token with CR LF and a header after them: a request that carries
that header is logged with the fault "injected-header"); stall and
status=... at the token endpoint too.
"""
import http.server
import json
import os
import socketserver
import sys
import time
import zlib

args = sys.argv[1:]
LOG = args.pop(0)


def opt(name, default):
    if name in args:
        return args[args.index(name) + 1]
    return default


PAGES = int(opt("--pages", "4"))
ROWS = int(opt("--rows", "3"))
FAULT = opt("--fault", "")
AT = int(opt("--at", "2"))
TIMES = int(opt("--times", "0"))
HEAL = opt("--heal", "")
KIND, _, ARG = FAULT.partition("=")
TOKEN = "hostile-token-5d1e"
served = 0
endless = 0


def bomb(mb, wbits):
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b" " * (1 << 20)
    out = [c.compress(b'{"value":[')]
    for _ in range(mb):
        out.append(c.compress(block))
    out.append(c.compress(b"]}"))
    out.append(c.flush())
    return b"".join(out)


def page_body(base, k):
    users = [{"id": "u-%02d-%02d" % (k, i), "displayName": "User %d.%d" % (k, i),
              "userPrincipalName": "u%d.%d@example.com" % (k, i),
              "mail": "u%d.%d@example.com" % (k, i), "accountEnabled": True,
              "department": "D%d" % k} for i in range(ROWS)]
    doc = {"@odata.context": base + "/v1.0/$metadata#users", "value": users}
    if k < PAGES:
        doc["@odata.nextLink"] = base + "/v1.0/users/delta?$skiptoken=p%d" % (k + 1)
    else:
        doc["@odata.deltaLink"] = base + "/v1.0/users/delta?$deltatoken=d1"
    return doc


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def log(self, fault):
        with open(LOG, "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, fault or "-"))

    def send(self, code, body, ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Date", self.date_time_string())
        for h in headers:
            self.send_header(*h)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def fault_now(self, at):
        global served
        if not KIND or at != AT or (TIMES and served >= TIMES) or \
                (HEAL and os.path.exists(HEAL)):
            return None
        served += 1
        return KIND

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        if not self.path.endswith("/oauth2/v2.0/token"):
            self.log(None)
            return self.send(404, b'{"error":"not found"}')
        f = self.fault_now(0)
        self.log(f)
        if f == "stall":
            time.sleep(3600)
            return
        if f == "status":
            code, _, hdr = ARG.partition(",")
            hs = [tuple(x.strip() for x in hdr.split(":", 1))] if hdr else []
            return self.send(int(code), b'{"error":"temporarily_unavailable"}', headers=hs)
        if f == "token-garbage":
            return self.send(200, b"<html><body>Sign in</body></html>", "text/html")
        tok = {"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}
        if f == "token-exp0":
            tok["expires_in"] = 0
        if f == "token-crlf":
            tok["access_token"] = TOKEN + "\r\nX-Injected: 1"
        if f == "token-exphuge":
            tok["expires_in"] = 9223372036854775807
        if f == "token-noaccess":
            del tok["access_token"]
        self.send(200, json.dumps(tok).encode())

    def do_GET(self):
        global endless
        path = self.path
        base = "http://%s:%d" % self.server.server_address
        if not path.startswith("/v1.0/users/delta"):
            self.log(None)
            return self.send(404, b'{"error":{"code":"NotFound"}}')
        if "$skiptoken=p" in path:
            k = int(path.split("$skiptoken=p", 1)[1].split("&")[0])
        elif "$deltatoken=" in path:
            k = PAGES  # a delta round: the last page again
        else:
            k = 1
        f = self.fault_now(k)
        if self.headers.get("X-Injected"):
            f = "injected-header"
        self.log(f)
        if self.headers.get("Authorization") != "Bearer " + TOKEN or f == "401":
            return self.send(401, b'{"error":{"code":"InvalidAuthenticationToken",'
                             b'"message":"Access token has expired or is not yet valid."}}')
        doc = page_body(base, k)
        if f == "selfloop":
            doc.pop("@odata.deltaLink", None)
            doc["@odata.nextLink"] = base + path
        if f == "endless":
            endless += 1
            doc.pop("@odata.deltaLink", None)
            doc["@odata.nextLink"] = base + "/v1.0/users/delta?$skiptoken=p%d&n=%d" % (k, endless)
            doc["value"] = [dict(u, id="e-%d-%s" % (endless, u["id"])) for u in doc["value"]]
        if f == "nextlink-ctl":
            doc["@odata.nextLink"] = base + "/v1.0/users/delta?$skiptoken=p%d HTTP/1.1\r\nX-Injected: 1\r\n" % (k + 1)
        if f == "notarray":
            doc["value"] = {"id": "x"}
        if f == "novalue":
            doc = {"@odata.context": doc["@odata.context"]}
        body = json.dumps(doc).encode()
        w = self.wfile
        if f is None or f in ("selfloop", "endless", "notarray", "novalue", "nextlink-ctl",
                          "injected-header"):
            return self.send(200, body)
        if f == "quota":
            return self.send(200, body, headers=[("x-ms-user-quota-remaining", "0"),
                                                 ("x-ms-user-quota-resets-after", ARG)])
        if f == "status":
            code, _, hdr = ARG.partition(",")
            hs = [tuple(x.strip() for x in hdr.split(":", 1))] if hdr else []
            return self.send(int(code), b'{"error":{"code":"Busy","message":"hostile"}}',
                             headers=hs)
        if f == "redirect":
            return self.send(302, b"", headers=[("Location", ARG)])
        if f in ("gzipbomb", "deflatebomb"):
            data = bomb(int(ARG), 31 if f == "gzipbomb" else 15)
            return self.send(200, data, headers=[
                ("Content-Encoding", "gzip" if f == "gzipbomb" else "deflate")])
        if f == "huge":
            mb = int(ARG)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(mb << 20))
            self.end_headers()
            block = b" " * (1 << 20)
            try:
                for _ in range(mb):
                    w.write(block)
            except OSError:
                pass
            return
        if f == "hugechunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            block = b" " * (1 << 20)
            try:
                for _ in range(int(ARG)):
                    w.write(b"%x\r\n%s\r\n" % (len(block), block))
                w.write(b"0\r\n\r\n")
            except OSError:
                pass
            return
        if f in ("stall", "trickle"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            w.flush()
            try:
                if f == "stall":
                    time.sleep(3600)
                for b in body:
                    w.write(bytes([b]))
                    w.flush()
                    time.sleep(1)
            except OSError:
                pass
            return
        if f == "silent":
            time.sleep(3600)
            return
        if f == "closemid":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            w.write(body[: len(body) // 2])
            self.close_connection = True
            return
        if f in ("closemid-nocl", "closeheaders"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            if f == "closemid-nocl":
                w.write(body[: len(body) // 2])
            self.close_connection = True
            return
        if f == "emptychunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            w.write(b"0\r\n\r\n")
            return
        if f == "shortcl":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) - 10))
            self.end_headers()
            w.write(body)
            self.close_connection = True
            return
        if f == "badchunk":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            w.write(b"zz\r\n" + body + b"\r\n0\r\n\r\n")
            self.close_connection = True
            return
        if f == "badjson":
            return self.send(200, body[: len(body) // 2])
        if f == "empty":
            return self.send(200, b"")
        if f == "html":
            return self.send(200, b"<html><head><title>Service Unavailable</title></head>"
                             b"<body>maintenance</body></html>", "text/html")
        raise SystemExit("unknown fault " + f)


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = S(("127.0.0.1", int(opt("--port", "0"))), H)
print("listening http://127.0.0.1:%d" % srv.server_address[1], flush=True)
srv.serve_forever()
