"""A small SEP Manager responder for the application checks, run inside a lab namespace.

    python -m tests.responders.sepm --http 8014 --https 443,8446 --cert C --key K \\
        --version 14.3.9816.7000 [--as sepm|nginx|iis]

As ``sepm`` it answers what admins and public API clients read from a manager (the
team's reference, "Application-layer checks"): ``GET /secars/secars.dll?hello,secars``
-> 200 ``OK`` (8014 and 443), ``GET /sepm/api/v1/version`` -> the REST API's version
JSON (8446), and ``GET /`` on the HTTPS ports -> a page titled like the console's. As
``nginx`` or ``iis`` it is the wrong server on the right port: every path is a 404 in
that server's words.

Every port listens on the IPv6 wildcard with IPV6_V6ONLY off (IPv4, IPv6 and the AnyIP
block routed to the namespace). Each connection gets a thread, and TLS handshakes happen
in that thread, so a client that connects and goes silent (or closes at once) holds up
no one. Request lines go to stderr; "ready" goes to stdout once every port listens.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECARS = "/secars/secars.dll?hello,secars"
VERSION_PATH = "/sepm/api/v1/version"
API_SEQUENCE = "230504014"
CONSOLE_TITLE = "Symantec Endpoint Protection Manager"

NGINX = "nginx/1.22.1"
NGINX_404 = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    "<center><h1>404 Not Found</h1></center>\r\n"
    f"<hr><center>{NGINX}</center>\r\n</body>\r\n</html>\r\n"
)
IIS = "Microsoft-IIS/10.0"
IIS_404 = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\r\n'
    '<html xmlns="http://www.w3.org/1999/xhtml">\r\n<head>\r\n'
    "<title>404 - File or directory not found.</title>\r\n</head>\r\n<body>\r\n"
    "<h2>404 - File or directory not found.</h2>\r\n"
    "<h3>The resource you are looking for might have been removed, had its name changed, "
    "or is temporarily unavailable.</h3>\r\n</body>\r\n</html>\r\n"
)
SERVERS = {"sepm": "SEPM", "nginx": NGINX, "iis": IIS}


def api_version(version: str) -> str:
    """The API_VERSION a manager of this build reports: its release and 7000
    (14.3.9816.7000 -> 14.3.7000)."""
    major, minor = [*version.split("."), "0", "0"][:2]
    return f"{major}.{minor}.7000"


def console_page() -> str:
    return (
        f"<!DOCTYPE html>\n<html><head><title>{CONSOLE_TITLE}</title></head>\n"
        f"<body><h1>{CONSOLE_TITLE}</h1></body></html>\n"
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with Content-Length, as real servers do
    timeout = 10  # a silent client's thread ends instead of waiting forever
    server: Server

    def version_string(self) -> str:
        return SERVERS[self.server.persona]

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        status, kind, content = self._route()
        data = content.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _route(self) -> tuple[int, str, str]:
        persona = self.server.persona
        if persona == "nginx":
            return 404, "text/html", NGINX_404
        if persona == "iis":
            return 404, "text/html", IIS_404
        if self.path == SECARS:
            return 200, "text/plain", "OK"
        if self.path == VERSION_PATH:
            version = self.server.version
            answer = {
                "API_SEQUENCE": API_SEQUENCE,
                "API_VERSION": api_version(version),
                "version": version,
            }
            return 200, "application/json", json.dumps(answer, separators=(",", ":"))
        if self.path == "/" and self.server.tls is not None:
            return 200, "text/html", console_page()
        return 404, "text/html", "<html><head><title>Not Found</title></head></html>\n"

    def log_message(self, format: str, *args: Any) -> None:
        port = self.server.server_address[1]
        sys.stderr.write(f"{port} {self.client_address[0]} {format % args}\n")


class Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, persona: str, version: str, tls: ssl.SSLContext | None) -> None:
        self.persona = persona
        self.version = version
        self.tls = tls
        super().__init__(("::", port), Handler)

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Runs in the connection's own thread: the handshake is done here, not in accept.
        if self.tls is not None:
            request.settimeout(Handler.timeout)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as error:
                sys.stderr.write(f"{self.server_address[1]} {client_address[0]} tls: {error}\n")
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets mid-request is ordinary here: one line, not a traceback.
        error = sys.exc_info()[1]
        sys.stderr.write(f"{self.server_address[1]} {client_address[0]} error: {error!r}\n")


def _ports(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p]


def main() -> None:
    parser = argparse.ArgumentParser(description="SEP Manager responder for the lab")
    parser.add_argument("--http", type=_ports, default=[])
    parser.add_argument("--https", type=_ports, default=[])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--version", default="14.3.9816.7000")
    parser.add_argument("--as", dest="persona", choices=sorted(SERVERS), default="sepm")
    args = parser.parse_args()
    context = None
    if args.https:
        if not (args.cert and args.key):
            parser.error("--https needs --cert and --key")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    servers = [Server(p, args.persona, args.version, None) for p in args.http]
    servers += [Server(p, args.persona, args.version, context) for p in args.https]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()  # until SIGTERM (the lab's teardown)


if __name__ == "__main__":
    main()
