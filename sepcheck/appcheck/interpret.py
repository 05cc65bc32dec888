"""Run one application check and say what its facts mean for the flow.

The protocol clients (``sepcheck.net.app``) read facts; this module compares them with the
definition's healthy answer. Three outcomes, never more: the service is there (ok), another
one holds the port (not ok: a failure for a flow that needs the service), or the check
cannot tell (no answer in time, an answer that names nothing): a note, never a failure.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping

from sepcheck.appcheck.definitions import CheckDef, Kind
from sepcheck.appcheck.finding import AppFinding, Scalar
from sepcheck.net.app.facts import (
    AppFailure,
    FailureKind,
    HttpReply,
    SmbFacts,
    SshFacts,
    TdsFacts,
    TlsFacts,
)

_SQL_RELEASES = {
    16: "SQL Server 2022",
    15: "SQL Server 2019",
    14: "SQL Server 2017",
    13: "SQL Server 2016",
    12: "SQL Server 2014",
    11: "SQL Server 2012",
}
"""Major versions of the PRELOGIN VERSION token (Microsoft's list of SQL Server builds)."""


def host_header(host: str, address: str, port: int, tls: bool) -> str:
    """The Host field: the name the topology gives (as a browser would send it), else the
    address; IPv6 literals in brackets (RFC 7230 section 5.4), default ports left out."""
    name = host
    try:
        if ipaddress.ip_address(host).version == 6:
            name = f"[{host}]"
    except ValueError:
        if not host:
            name = f"[{address}]" if ":" in address else address
    default = 443 if tls else 80
    return name if port == default else f"{name}:{port}"


def server_name(host: str) -> str | None:
    """SNI: a name, never an address literal (RFC 6066 section 3)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host or None
    return None


async def run(
    check: CheckDef,
    host: str,
    address: str,
    port: int,
    *,
    user_agent: str,
    known_version: str | None = None,
) -> AppFinding:
    """The finding of ``check`` against ``address``:``port`` (``host`` as the topology names
    it). The caller bounds the time; every failure of the server is a finding."""
    try:
        return await _run(check, host, address, port, user_agent, known_version)
    except AppFailure as failure:
        return failed(check, failure)


def failed(check: CheckDef, failure: AppFailure) -> AppFinding:
    """A check that read no facts: another protocol on the port means another service; no
    answer, a closed connection or a failed handshake cannot tell."""
    read: dict[str, Scalar] = {"failure": failure.kind.value}
    if check.kind is Kind.SMB2 and failure.detail.startswith(SMB_AFTER_ALL):
        # SMB1 only, or SMB2 refused with a status: an SMB server all the same.
        return AppFinding(check.name, check.service, None, failure.detail, read)
    if failure.kind is FailureKind.NOT_PROTOCOL:
        return AppFinding(check.name, check.service, False, failure.detail, read)
    return AppFinding(check.name, check.service, None, failure.detail, read)


SMB_AFTER_ALL = ("SMB1 only", "refused the negotiation")
"""How smb2.py words an SMB server that did not negotiate SMB2: not another service."""


def timed_out(check: CheckDef, seconds: float) -> AppFinding:
    return AppFinding(
        check.name,
        check.service,
        None,
        f"no complete answer within {seconds:g} s",
        {"failure": FailureKind.TIMEOUT.value},
    )


async def _run(
    check: CheckDef, host: str, address: str, port: int, user_agent: str, version: str | None
) -> AppFinding:
    # The clients are imported here: a check with --no-app loads none of them (nor
    # cryptography).
    if check.kind is Kind.HTTP:
        from sepcheck.net.app.http import http_get

        assert check.path is not None  # the definition's validator requires it
        reply, tls = await http_get(
            address,
            port,
            check.path,
            host_header=host_header(host, address, port, check.tls),
            user_agent=user_agent,
            tls=check.tls,
            server_name=server_name(host),
        )
        return judge_http(check, reply, tls, version)
    if check.kind is Kind.TLS:
        from sepcheck.net.app.tls import tls_handshake

        tls = await tls_handshake(address, port, server_name(host))
        return AppFinding(check.name, check.service, True, tls_summary(tls), {}, tls)
    if check.kind is Kind.TDS:
        from sepcheck.net.app.tds import tds_prelogin

        return judge_tds(check, await tds_prelogin(address, port))
    if check.kind is Kind.SMB2:
        from sepcheck.net.app.smb2 import smb2_negotiate

        return judge_smb(check, await smb2_negotiate(address, port))
    from sepcheck.net.app.ssh import ssh_banner

    return judge_ssh(check, await ssh_banner(address, port))


def _served_by(reply: HttpReply) -> str:
    server = reply.header("Server")
    return f"from {server}" if server else "(no Server header)"


def _quoted(data: bytes | str, limit: int = 40) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _hello(check: CheckDef) -> str:
    """What the request asked for, in a word: 'secars' for the secars hello."""
    query = (check.path or "").partition("?")[2]
    return query.split(",")[-1] if query else "answer"


def judge_http(
    check: CheckDef, reply: HttpReply, tls: TlsFacts | None, version: str | None
) -> AppFinding:
    """An HTTP answer against the definition: status, body, JSON keys or marks."""
    read: dict[str, Scalar] = {"status": reply.status}
    server = reply.header("Server")
    if server:
        read["server"] = server
    if reply.title:
        read["title"] = reply.title
    seen = f"HTTP {reply.status} {_served_by(reply)}"

    def finding(ok: bool | None, detail: str) -> AppFinding:
        return AppFinding(check.name, check.service, ok, detail, read, tls)

    if check.expect_status is not None and reply.status != check.expect_status:
        return finding(False, seen)
    if check.expect_body is not None:
        body = reply.body.decode("utf-8", "replace").strip()
        if body != check.expect_body:
            read["body"] = body[:64]
            return finding(False, f"{seen}, body {_quoted(body)}, not {check.expect_body!r}")
        label = f"{check.service} {version}" if version else check.service
        return finding(True, f"{label} ({_hello(check)} {check.expect_body})")
    if check.expect_json:
        return _judge_json(check, reply, seen, read, tls)
    if check.marks:
        named = [m for m in check.marks if m in (server or "") or m in (reply.title or "")]
        title = f", title {_quoted(reply.title)}" if reply.title else ""
        if named:
            return finding(True, f"{check.service}: {seen}{title}")
        return finding(None, f"{seen}{title}: nothing in it names {check.service}")
    return finding(True, f"{check.service}: {seen}")


def _judge_json(
    check: CheckDef,
    reply: HttpReply,
    seen: str,
    read: dict[str, Scalar],
    tls: TlsFacts | None,
) -> AppFinding:
    def finding(ok: bool | None, detail: str) -> AppFinding:
        return AppFinding(check.name, check.service, ok, detail, read, tls)

    try:
        document = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        cut = ", cut at 8 KiB" if reply.truncated else ""
        return finding(False, f"{seen}, body is not JSON{cut}: {_quoted(reply.body)}")
    if not isinstance(document, Mapping):
        return finding(False, f"{seen}, JSON without the keys {', '.join(check.expect_json)}")
    missing = [key for key in check.expect_json if key not in document]
    if missing:
        return finding(False, f"{seen}, JSON without {', '.join(missing)}")
    for key in check.expect_json:
        value = document[key]
        if isinstance(value, str | int | bool):
            read[_read_key(key)] = value
    version = document.get(check.version_key) if check.version_key else None
    if check.version_key and isinstance(version, str):
        read["version"] = version
        api = document.get("API_VERSION")
        tail = f" (API {api})" if isinstance(api, str) else ""
        return finding(True, f"{check.service} {version}{tail}")
    return finding(True, f"{check.service}: {seen}")


def _read_key(key: str) -> str:
    """JSON keys as the report's ``read`` names them: API_VERSION -> api_version."""
    return key.lower()


def tls_summary(tls: TlsFacts) -> str:
    """A server's certificate in a line: 'TLSv1.3, CN=sepm01 (self-signed RSA 2048)'."""
    signer = "self-signed" if tls.self_signed else f"issued by {tls.issuer}"
    size = f" {tls.key_bits}" if tls.key_bits else ""
    return f"{tls.protocol}, {tls.subject} ({signer} {tls.key_type}{size})"


def judge_tds(check: CheckDef, facts: TdsFacts) -> AppFinding:
    major = int(facts.version.split(".", 1)[0]) if facts.version[:1].isdigit() else 0
    release = _SQL_RELEASES.get(major)
    read: dict[str, Scalar] = {"sql_version": facts.version, "encryption": facts.encryption}
    if release:
        read["sql_release"] = release
    name = f"{release} ({facts.version})" if release else f"SQL Server {facts.version}"
    return AppFinding(
        check.name, check.service, True, f"{name}, encryption {facts.encryption}", read
    )


def judge_smb(check: CheckDef, facts: SmbFacts) -> AppFinding:
    signing = "required" if facts.signing_required else "not required"
    read: dict[str, Scalar] = {
        "dialect": facts.dialect,
        "signing_required": facts.signing_required,
        "signing_enabled": facts.signing_enabled,
    }
    return AppFinding(
        check.name, check.service, True, f"SMB {facts.dialect}, signing {signing}", read
    )


def judge_ssh(check: CheckDef, facts: SshFacts) -> AppFinding:
    read: dict[str, Scalar] = {"banner": facts.banner}
    return AppFinding(check.name, check.service, True, facts.banner, read)
