#!/usr/bin/env python3
"""Serves a release directory the way a mirror would, for tests/setup/install_sh.rs.

Listens on 127.0.0.1 (or --bind) at a free port, over HTTPS when given a certificate and
key, prints "PORT <n>" once ready, and appends "<METHOD> <path> <status>" to
the log file for every request, so a test can tell exactly what install.sh
fetched. GET /redirect-http/<path> answers 302 to the same path over plain
HTTP at --http-port, to test that a downgrade is refused.
"""
import argparse
import functools
import http.server
import ssl
import sys
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    log_path = None
    http_port = None
    lock = threading.Lock()

    def do_GET(self):
        if self.path.startswith("/redirect-http/") and self.http_port:
            target = f"http://127.0.0.1:{self.http_port}/{self.path[len('/redirect-http/'):]}"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_request(self, code="-", size="-"):
        with self.lock, open(self.log_path, "a", encoding="utf-8") as log:
            # A request that did not parse has no command or path.
            command = getattr(self, "command", None) or "-"
            path = getattr(self, "path", None) or "-"
            log.write(f"{command} {path} {int(code) if str(code).isdigit() else code}\n")

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--http-port", type=int)
    parser.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args()

    Handler.log_path = args.log
    Handler.http_port = args.http_port
    handler = functools.partial(Handler, directory=args.root)
    server = http.server.ThreadingHTTPServer((args.bind, 0), handler)
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
