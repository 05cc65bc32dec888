"""Raw mode (--mode raw, trace) against real kernels and a real nftables router.

The questions connect() cannot answer: a closed port on the server versus a reset forged
by the router (`reject with tcp reset`), who sent an ICMP error and with what TTL, and
where along the path a flow dies. In this lab the server's replies arrive at the client
with TTL 63 and the router's with 64.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lab.lab import Lab
from tests.lab.test_classification import (
    CASES,
    RULES,
    check_lab_cases,
    lab_catalogue,
    lab_topology,
    sepcheck,
)

pytestmark = pytest.mark.lab

# Raw mode's reasons where they differ from connect mode's (CASES holds the states,
# which must not differ).
RAW_REASONS = {
    "client-manager-tcp-closed": "reset",
    "client-manager-tcp-forged-rst": "forged-reset",
    "client-manager-tcp-router-port-unreach": "forged-port-unreach",
}


@pytest.fixture(scope="module")
def served(lab: Lab) -> Lab:
    lab.firewall(RULES)
    lab.serve(tcp=[8014], udp=[137])
    return lab


@pytest.mark.parametrize("family", [4, 6])
def test_raw_mode_adds_the_evidence(served: Lab, tmp_path: Path, family: int) -> None:
    _, report = check_lab_cases(served, tmp_path, family, "--mode", "raw", "--stage", "pre-install")
    assert report["parameters"]["mode"] == "raw"
    router = served.router_v4 if family == 4 else served.router_v6
    server = served.server_v4 if family == 4 else served.server_v6
    results = {r["flow"]: r for r in report["results"]}
    assert set(results) == set(CASES)
    for entry_id, (_, _, _, state, reason, who) in CASES.items():
        got = results[entry_id]
        expected_reason = RAW_REASONS.get(entry_id, reason)
        assert (got["state"], got["reason"]) == (state, expected_reason), (entry_id, got)
        # Every answer that came over the network carries its sender and its TTL.
        if who == "router":
            assert (got["reply_from"], got["reply_ttl"]) == (router, 64), (entry_id, got)
        elif who == "server" or entry_id == "client-manager-tcp-closed":
            assert (got["reply_from"], got["reply_ttl"]) == (server, 63), (entry_id, got)
        elif entry_id != "client-manager-tcp-forged-rst":  # checked below
            assert got["reply_ttl"] is None, (entry_id, got)
    closed = results["client-manager-tcp-closed"]
    forged = results["client-manager-tcp-forged-rst"]
    # Same state for connect(); told apart by the TTL of the reset.
    assert closed["detail"] == "reset (ttl 63, as the host's own replies)"
    assert forged["reply_ttl"] == 64
    assert forged["detail"] == (
        f"reset forged by a device 1 hop before {server} "
        "(ttl 64; the host's own replies arrive with 63)"
    )
    # Before installation a closed port proves the path; a forged reset does not.
    assert closed["verdict"] == "warn"
    assert forged["verdict"] == "fail"
    assert "firewall" in forged["note"]
    assert results["client-manager-tcp-prohibited"]["detail"] == (
        f"admin-prohibited by {router} (ttl 64)"
    )
    assert results["client-manager-tcp-open"]["rtt_ms"] > 0


@pytest.mark.parametrize("family", [4, 6])
def test_raw_and_connect_modes_agree_on_every_state(
    served: Lab, tmp_path: Path, family: int
) -> None:
    _, raw = check_lab_cases(served, tmp_path, family, "--mode", "raw")
    _, connect = check_lab_cases(served, tmp_path, family, "--mode", "connect")
    assert connect["parameters"]["mode"] == "connect"
    states = {r["flow"]: r["state"] for r in connect["results"]}
    assert {r["flow"]: r["state"] for r in raw["results"]} == states
    # connect() cannot see TTLs: it records none.
    assert all(r["reply_ttl"] is None for r in connect["results"])


def test_without_a_reference_ttl_it_cannot_tell(served: Lab, tmp_path: Path) -> None:
    """A host that answers nothing but resets (no open port probed, echo dropped): no
    conclusion either way, said in the detail, and the refusal stands as it is."""
    catalogue = tmp_path / "resets.toml"
    lines = ["schema = 1"]
    for entry_id, port in (("closed", 443), ("forged", 8446)):
        lines += [
            "[[entry]]",
            f'id = "client-manager-{entry_id}"',
            "row = 0",
            'protocol = "tcp"',
            f"port = {port}",
            'source = "client"',
            'destination = "manager"',
            'purpose = "lab"',
            "configurable = true",
            'versions = "all"',
        ]
    catalogue.write_text("\n".join(lines) + "\n")
    served.firewall(RULES + "    icmp type echo-request drop\n")
    try:
        code, report, err = sepcheck(
            served,
            "--catalogue",
            str(catalogue),
            "--as",
            "client",
            "--manager",
            served.server_v4,
            "--mode",
            "raw",
            "--timeout",
            "0.5",
            "--format",
            "json",
        )
    finally:
        served.firewall(RULES)
    assert report is not None, err
    for result in report["results"]:
        assert (result["state"], result["reason"]) == ("refused", "reset"), result
        assert (
            "cannot tell whether 198.18.2.2 or a device on the path sent it" in (result["detail"])
        )
    assert code == 1


def trace(lab: Lab, *args: str) -> tuple[int, dict[str, Any], str]:
    done = lab.exec(sys.executable, "-m", "sepcheck", "trace", "--format", "json", *args)
    assert done.stdout.startswith("{"), done.stderr
    return done.returncode, json.loads(done.stdout)["traces"][0], done.stderr


@pytest.mark.parametrize("family", [4, 6])
def test_trace_names_where_each_flow_dies(served: Lab, family: int) -> None:
    router = served.router_v4 if family == 4 else served.router_v6
    server = served.server_v4 if family == 4 else served.server_v6

    code, dropped, err = trace(served, server, "--port", "9090", "--timeout", "0.3")
    assert code == 1, err
    assert dropped["outcome"] == "dropped"
    assert dropped["last_passed"]["reply_from"] == router
    assert dropped["last_passed"]["reason"] == "time-exceeded"
    assert dropped["dies_after_ttl"] == 1
    assert f"dies after hop 1 ({router}): no answer from hop 2 on" in dropped["summary"]
    assert f"dies after hop 1 ({router})" in err

    code, prohibited, _ = trace(served, server, "--port", "8445")
    assert code == 1
    assert prohibited["outcome"] == "blocked"
    assert prohibited["dies_at"]["reply_from"] == router
    assert prohibited["dies_at"]["reason"] == "admin-prohibited"
    assert prohibited["last_passed"]["reply_from"] == router

    code, forged, _ = trace(served, server, "--port", "8446")
    assert code == 1
    assert forged["outcome"] == "blocked"
    assert forged["dies_at"]["reason"] == "forged-reset"
    assert forged["summary"].startswith(f"tcp/8446 dies at {router} (hop 1): reset forged")

    code, reached, _ = trace(served, server, "--port", "8014")
    assert code == 0
    assert reached["reached"] is True
    assert [(h["ttl"], h["reply_from"], h["reason"]) for h in reached["hops"]] == [
        (1, router, "time-exceeded"),
        (2, server, "syn-ack"),
    ]
    assert reached["hops"][1]["reply_ttl"] == 63

    code, udp, _ = trace(served, server, "--port", "138", "--protocol", "udp")
    assert code == 0
    assert (udp["outcome"], udp["hops"][-1]["reason"]) == ("reached", "port-unreach")


def test_trace_a_catalogue_flow(served: Lab, tmp_path: Path) -> None:
    catalogue = lab_catalogue(tmp_path / "lab-catalogue.toml")
    topology = lab_topology(tmp_path / "lab.toml", 4)
    common = ("--catalogue", str(catalogue), "--topology", str(topology), "--as", "client")
    code, dropped, _ = trace(served, *common, "client-manager-tcp-drop", "--timeout", "0.3")
    assert code == 1
    assert (dropped["flow"], dropped["port"], dropped["outcome"]) == (
        "client-manager-tcp-drop",
        9090,
        "dropped",
    )
    code, reached, _ = trace(served, *common, "client-manager-udp-open", "198.18.2.2")
    assert code == 0
    assert (reached["protocol"], reached["port"], reached["hops"][-1]["reason"]) == (
        "udp",
        137,
        "udp-response",  # the NBSTAT payload got an answer
    )
    done = served.exec(
        sys.executable,
        "-m",
        "sepcheck",
        "trace",
        *common,
        "client-manager-tcp-open",
        "198.18.99.99",
    )
    assert done.returncode == 2
    assert "is not one of its destinations" in done.stderr
    assert "Traceback" not in done.stderr


def test_each_destination_gets_its_own_source_address(served: Lab) -> None:
    """The client reaches 127.0.0.1 from 127.0.0.1 and the server from 198.18.1.2: every
    SYN must be checksummed over its own route's source, whichever destination came
    first (a reused route-lookup socket once kept the first one: the server then dropped
    every SYN for a bad checksum, and the probe read as filtered)."""
    code = (
        "import asyncio, socket\n"
        "from sepcheck.net.raw import packets\n"
        "from sepcheck.net.raw.side import Side\n"
        "async def main():\n"
        "    side = Side(socket.AF_INET, lambda _: None, lambda _: None)\n"
        "    try:\n"
        "        for address in ('127.0.0.1', '198.18.2.2', '198.18.1.1'):\n"
        "            found = side.source_for(address, packets.pack_address(address))\n"
        "            print(address, packets.unpack_address(found))\n"
        "    finally:\n"
        "        side.close()\n"
        "asyncio.run(main())\n"
    )
    done = served.exec(sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == [
        "127.0.0.1 127.0.0.1",
        "198.18.2.2 198.18.1.2",
        "198.18.1.1 198.18.1.2",
    ]
    # End to end: the first SYN of the run goes to 127.0.0.1, the next to the server.
    _, report, err = sepcheck(
        served,
        "--as",
        "client",
        "--manager",
        "127.0.0.1",
        "--manager",
        "198.18.2.2",
        "--mode",
        "raw",
        "--format",
        "json",
    )
    assert report is not None, err
    http = [r for r in report["results"] if r["port"] == 8014]
    assert [(r["address"], r["state"]) for r in http] == [
        ("127.0.0.1", "refused"),
        ("198.18.2.2", "open"),
    ]
