"""One result as one JSON line of the spool, written once per probe and flow.

The line is exactly what ``json`` writes for ``model.result_record`` (compact separators,
UTF-8 left as is; a test holds the two byte for byte), built from pieces instead: the
fields a flow shares (its id, roles, protocol, port, what it expects, severity and group)
are encoded once per flow and kept, and only a result's own fields are encoded each time,
with the standard library's C string encoder. Building the whole dictionary and encoding
it again for every probe was a fifth of the time a probe spent in Python.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import TYPE_CHECKING

from sepcheck.appcheck.finding import app_record

if TYPE_CHECKING:
    from sepcheck.results import ProbeResult, Verdict

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

_Key = tuple[str, str, str, str, int, str, str, str | None]


class LineWriter:
    """Encodes results as spool lines; keeps the shared pieces of each flow it met."""

    __slots__ = ("pieces",)

    def __init__(self) -> None:
        self.pieces: dict[_Key, tuple[str, str, str]] = {}

    def line(self, result: ProbeResult, verdict: Verdict, note: str) -> str:
        p = result.probe
        key = (p.flow, p.source, p.destination, p.protocol, p.port, p.expect, p.severity, p.group)
        pieces = self.pieces.get(key)
        if pieces is None:
            pieces = self.pieces[key] = _pieces(key)
        head, middle, tail = pieces
        address = result.address
        reply_from = result.reply_from
        rtt = result.rtt_ms
        ttl = result.reply_ttl
        app = result.app
        return (
            f"{head}{encode_basestring(p.host)}"
            f',"address":{"null" if address is None else encode_basestring(address)}'
            f"{middle}{encode_basestring(result.state)}"
            f',"reason":{encode_basestring(result.reason)}'
            f',"detail":{encode_basestring(result.detail)}'
            f',"reply_from":{"null" if reply_from is None else encode_basestring(reply_from)}'
            f',"rtt_ms":{"null" if rtt is None else _number(rtt)}'
            f',"attempts":{int.__repr__(result.attempts)}'
            f',"verdict":{encode_basestring(verdict)}'
            f',"note":{encode_basestring(note)}'
            f',"reply_ttl":{"null" if ttl is None else int.__repr__(ttl)}'
            f"{tail}{'null' if app is None else _dumps(app_record(app))}}}\n"
        )


def _number(value: float) -> str:
    # As json writes it: a float by its repr, an int as an int.
    return float.__repr__(value) if type(value) is float else _dumps(value)


def _pieces(key: _Key) -> tuple[str, str, str]:
    flow, source, destination, protocol, port, expect, severity, group = key
    head = (
        f'{{"flow":{_dumps(str(flow))},"source":{_dumps(str(source))},'
        f'"destination":{_dumps(str(destination))},"host":'
    )
    middle = (
        f',"protocol":{_dumps(str(protocol))},"port":{int(port)},'
        f'"expect":{_dumps(str(expect))},"state":'
    )
    tail = (
        f',"severity":{_dumps(str(severity))},'
        f'"group":{"null" if group is None else _dumps(group)},"app":'
    )
    return head, middle, tail
