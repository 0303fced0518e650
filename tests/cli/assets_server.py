#!/usr/bin/env python3
"""A made-up REST API on loopback for tests/cli/newcomer_http.sh, the kind
a newcomer writes a job for: GET /api/v2/assets?page=N&per_page=K answers
{"items": [...], "page": N} with GitHub-style Link paging (rel="next" and
rel="first" in one header) and wants "Authorization: Bearer TOKEN" (else
401). Seven assets; every answer is dated 2024-06-01T12:00:00Z. Prints
"listening http://127.0.0.1:PORT" first.

With --tls CERT KEY it speaks https (next links too), and --resets N
resets the first N connections (an RST) right after their TLS ClientHello,
as a flaky load balancer does; --h2-resets N has the next N connections
speak HTTP/2 (ALPN h2) only to reset their first stream (RST_STREAM
INTERNAL_ERROR), as a front end under load does, and end the connection
(GOAWAY) when another stream comes on it; the others speak HTTP/1.1. "listening https://127.0.0.1:PORT".

usage: assets_server.py TOKEN [--tls CERT KEY [--resets N] [--h2-resets N]]
"""
import socket
import ssl
import struct
import sys
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from loopback import JSONHandler, serve

TOKEN = sys.argv[1]
TLS = sys.argv[sys.argv.index("--tls") + 1:][:2] if "--tls" in sys.argv else None
RESETS = int(sys.argv[sys.argv.index("--resets") + 1]) if "--resets" in sys.argv else 0
H2_RESETS = (int(sys.argv[sys.argv.index("--h2-resets") + 1])
             if "--h2-resets" in sys.argv else 0)
ASSETS = [{
    "asset_id": "AST-%04d" % i,
    "hostname": "DB01.ACME.INTERNAL" if i == 5 else "web%02d.acme.internal" % i,
    "kind": ["vm", "container", "db"][i % 3],
    "team": {"name": "platform" if i % 2 else "payments"},
    "labels": {"env": "prod" if i < 5 else "dev", "tier": i % 3},
    "seen_at": "2024-05-0%dT1%d:00:00+02:00" % (i, i),
    "site": None if i == 6 else "eu-west-%d" % (i % 2 + 1),
} for i in range(1, 8)]


class Handler(JSONHandler):
    def date_time_string(self, timestamp=None):
        return "Sat, 01 Jun 2024 12:00:00 GMT"

    def do_GET(self):
        u = urlsplit(self.path)
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.answer(401, {"error": "bad or missing token"})
        if u.path != "/api/v2/assets":
            return self.answer(404, {"error": "no such path"})
        q = parse_qs(u.query)
        page = int(q.get("page", ["1"])[0])
        per = int(q.get("per_page", ["30"])[0])
        links = {}
        if page * per < len(ASSETS):
            base = "%s://%s/api/v2/assets" % ("https" if TLS else "http",
                                              self.headers.get("Host"))
            links["Link"] = ('<%s?page=%d&per_page=%d>; rel="next", '
                             '<%s?page=1&per_page=%d>; rel="first"'
                             % (base, page + 1, per, base, per))
        self.answer(200, {"items": ASSETS[(page - 1) * per:page * per],
                          "page": page}, links)


def h2_frame(kind, flags, stream, payload=b""):
    return (struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) +
            struct.pack(">I", stream) + payload)


def h2_reset(tls):
    """Read the client's preface and first request, reset stream 1
    (RST_STREAM INTERNAL_ERROR) and keep the connection; when the client
    opens another stream on it (a retry), say that none after stream 1
    was processed (GOAWAY) and close."""
    buf, reset = b"", False
    tls.settimeout(30)
    try:
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            buf += chunk
            if buf.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
                buf = buf[24:]
            while len(buf) >= 9:
                n = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + n:
                    break
                kind = buf[3]
                stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                buf = buf[9 + n:]
                if kind != 1:                              # HEADERS only
                    continue
                if not reset:
                    reset = True
                    tls.sendall(h2_frame(4, 0, 0) +            # SETTINGS
                                h2_frame(4, 1, 0) +            # its ack
                                h2_frame(3, 0, stream,         # RST_STREAM
                                         struct.pack(">I", 2)))
                else:
                    tls.sendall(h2_frame(7, 0, 0, struct.pack(">II", 1, 0)))
                    return                                     # GOAWAY
    except OSError:
        pass
    finally:
        tls.close()


class TLSServer(ThreadingHTTPServer):
    resets = RESETS
    h2_resets = H2_RESETS

    def get_request(self):
        while True:
            sock, addr = self.socket.accept()
            if self.resets > 0:
                self.resets -= 1
                sock.recv(4096)                      # the ClientHello
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
                sock.close()                         # RST
                continue
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(TLS[0], TLS[1])
            if self.h2_resets > 0:
                self.h2_resets -= 1
                ctx.set_alpn_protocols(["h2"])
                h2_reset(ctx.wrap_socket(sock, server_side=True))
                continue
            ctx.set_alpn_protocols(["http/1.1"])
            return ctx.wrap_socket(sock, server_side=True), addr


if TLS:
    server = TLSServer(("127.0.0.1", 0), Handler)
    print("listening https://127.0.0.1:%d" % server.server_address[1],
          flush=True)
    server.serve_forever()
else:
    serve(Handler)
