"""Shared parts of the test servers on loopback (assets_server.py,
servicenow_server.py): a handler that answers JSON, and serve(), which
prints "listening http://127.0.0.1:PORT" first and serves until killed."""
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JSONHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    print("listening http://127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()
