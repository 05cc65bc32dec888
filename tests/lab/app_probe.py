"""Run one application check from inside a lab namespace and print what it read as JSON.

    python -m tests.lab.app_probe ssh 198.18.2.2 22
    python -m tests.lab.app_probe http fd00:2::2 443 --path / --tls

Prints ``{"facts": ...}`` (exit 0) or ``{"failure": KIND, "detail": ...}`` (exit 3):
the clients in sepcheck/net/app as the engine will call them, under a deadline the
caller imposes with asyncio.timeout, as the engine does.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from datetime import datetime
from typing import Any

from sepcheck.net.app.facts import AppFailure, HttpReply

DEADLINE = 10.0


def plain(value: Any) -> Any:
    """Facts as JSON values: dataclasses as objects, datetimes in ISO 8601, bytes as
    text (undecodable bytes replaced)."""
    if isinstance(value, HttpReply):
        fields = plain(dataclasses.asdict(value))
        return {**fields, "title": value.title}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


async def check(args: argparse.Namespace) -> Any:
    address, port = args.address, args.port
    if args.kind == "ssh":
        from sepcheck.net.app.ssh import ssh_banner

        return await ssh_banner(address, port)
    if args.kind == "smb":
        from sepcheck.net.app.smb2 import smb2_negotiate

        return await smb2_negotiate(address, port)
    if args.kind == "tds":
        from sepcheck.net.app.tds import tds_prelogin

        return await tds_prelogin(address, port)
    if args.kind == "tls":
        from sepcheck.net.app.tls import tls_handshake

        return await tls_handshake(address, port, server_name=args.server_name)
    from sepcheck.net.app.http import http_get

    reply, tls = await http_get(
        address,
        port,
        args.path,
        host_header=args.host_header or (f"[{address}]" if ":" in address else address),
        user_agent="sepcheck-lab",
        tls=args.tls,
        server_name=args.server_name,
    )
    return {"reply": reply, "tls": tls}


async def main_async(args: argparse.Namespace) -> int:
    try:
        async with asyncio.timeout(DEADLINE):
            facts = await check(args)
    except AppFailure as failure:
        print(json.dumps({"failure": str(failure.kind), "detail": failure.detail}))
        return 3
    except TimeoutError:
        print(json.dumps({"failure": "deadline", "detail": f"no facts within {DEADLINE} s"}))
        return 3
    print(json.dumps({"facts": plain(facts)}))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["ssh", "smb", "tds", "tls", "http"])
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    parser.add_argument("--path", default="/")
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--server-name")
    parser.add_argument("--host-header")
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
