#!/usr/bin/env python3
"""A loopback stand-in for Azure Blob Storage's Get Blob, for
tests/cli/cost_export.sh: serves the export run folder RUN under
/CONTAINER/<blobName> (each blob by its base name; the manifest at the
run folder's path), honouring Range as Azure does (206 with
Content-Range, 416 past the end) unless --ignore-range (then 200 and the
whole blob, as a server without range support). Each answer with a blob
carries its ETag (a digest of its bytes), and a request whose If-Match
is not the blob's ETag gets 412 (ConditionNotMet), as from Azure. Every
request is appended to LOG as "METHOD PATH RANGE", then " if-match=TAG"
when it had one. Prints "listening http://127.0.0.1:PORT" first.

--swap-after N: once N ranged GETs have been answered, every blob file F
of RUN that has a F.swap beside it is replaced by it (a blob rewritten
between two pieces of its download).

--require-query Q: a request whose query string is not exactly Q gets
403 (AuthenticationFailed), as a missing or wrong SAS token does.

--content-encoding: each .gz blob is answered with "Content-Encoding:
gzip", as Azure answers a blob whose Content-Encoding property is set (a
.csv.gz uploaded with --content-encoding gzip): its bytes are still the
stored ones, whatever the request's Accept-Encoding.

The request path is percent-decoded before it is matched.

usage: blob_server.py RUN CONTAINER LOG [--ignore-range] [--swap-after N]
                      [--require-query Q] [--content-encoding]
"""
import hashlib
import http.server
import json
import os
import re
import sys
from urllib.parse import unquote

RUN, CONTAINER, LOG = sys.argv[1:4]
RUN = os.path.abspath(RUN)
IGNORE_RANGE = "--ignore-range" in sys.argv[4:]
CONTENT_ENCODING = "--content-encoding" in sys.argv[4:]
SWAP_AFTER = (int(sys.argv[sys.argv.index("--swap-after") + 1])
              if "--swap-after" in sys.argv else None)
REQUIRE_QUERY = (sys.argv[sys.argv.index("--require-query") + 1]
                 if "--require-query" in sys.argv else None)
ranged = 0
m = json.load(open(os.path.join(RUN, "manifest.json")))
FILES = {}
for b in m["blobs"]:
    name = b["blobName"].strip()
    FILES["/%s/%s" % (CONTAINER, name)] = os.path.join(RUN, os.path.basename(name))
    folder = "/%s/%s" % (CONTAINER, name.rsplit("/", 1)[0])
FILES[folder + "/manifest.json"] = os.path.join(RUN, "manifest.json")


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = unquote(self.path.split("?", 1)[0])
        global ranged
        rng = self.headers.get("Range", "")
        if_match = self.headers.get("If-Match")
        with open(LOG, "a") as f:
            f.write("GET %s %s%s\n" % (path, rng, " if-match=" + if_match
                                       if if_match else ""))
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        if REQUIRE_QUERY is not None and query != REQUIRE_QUERY:
            self.send_response(403)
            self.send_header("x-ms-error-code", "AuthenticationFailed")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path not in FILES:
            self.send_response(404)
            self.send_header("x-ms-error-code", "BlobNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = open(FILES[path], "rb").read()
        etag = '"0x%s"' % hashlib.sha256(data).hexdigest()[:16].upper()
        if if_match and if_match != etag:
            self.send_response(412)
            self.send_header("x-ms-error-code", "ConditionNotMet")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", rng)
        if m and not IGNORE_RANGE:
            a, b = int(m.group(1)), int(m.group(2))
            if a >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            b = min(b, len(data) - 1)
            body = data[a:b + 1]
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (a, b, len(data)))
            ranged += 1
        else:
            body = data
            self.send_response(200)
        self.send_header("ETag", etag)
        if CONTENT_ENCODING and path.endswith(".gz"):
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if SWAP_AFTER is not None and ranged == SWAP_AFTER:
            for f in set(FILES.values()):
                if os.path.exists(f + ".swap"):
                    os.replace(f + ".swap", f)

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", 0), H)
print("listening http://127.0.0.1:%d" % srv.server_port, flush=True)
srv.serve_forever()
