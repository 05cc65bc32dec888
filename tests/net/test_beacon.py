"""The responder protocol's wire format: messages round-trip for every family and kind,
and anything not made with the run's key (altered, truncated, another key, noise) decodes
to None without raising."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sepcheck.net import beacon
from sepcheck.net.beacon import SIZE, Endpoint, Kind, Message, decode, encode

KEY = beacon.parse_token("00112233445566778899aabbccddeeff")
OTHER_KEY = beacon.parse_token("ffeeddccbbaa99887766554433221100")
NONCE = bytes(range(16))


def message(endpoint: Endpoint | None, kind: Kind = Kind.PROBE_TCP, flags: int = 0) -> Message:
    return Message(kind, 8014, NONCE, endpoint, flags)


def remac(data: bytes, offset: int, value: int, key: bytes = KEY) -> bytes:
    """``data`` with byte ``offset`` set to ``value`` and a MAC made for it: a message of
    the key that only decode's field checks can refuse."""
    body = bytearray(data[:48])
    body[offset] = value
    return bytes(body) + hmac.new(key, bytes(body), hashlib.sha256).digest()[:16]


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        (Endpoint("198.18.0.10", 50123), Endpoint("198.18.0.10", 50123)),
        (Endpoint("fd00::10", 65535), Endpoint("fd00::10", 65535)),
        (Endpoint("fe80::1%eth0", 1), Endpoint("fe80::1", 1)),
        # A dual-stack socket's view of an IPv4 peer travels, and reads back, as IPv4.
        (Endpoint("::ffff:198.18.0.10", 40000), Endpoint("198.18.0.10", 40000)),
        (None, None),
    ],
)
def test_round_trip_of_each_family(sent: Endpoint | None, read: Endpoint | None) -> None:
    data = encode(KEY, message(sent))
    assert len(data) == SIZE
    assert data.startswith(beacon.MAGIC)
    assert decode(KEY, data) == message(read)


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("flags", [0, beacon.SEEN, beacon.SEEN | beacon.LISTENING_UDP, 0xFF])
def test_round_trip_of_each_kind_and_flags(kind: Kind, flags: int) -> None:
    sent = message(Endpoint("127.0.0.1", 9), kind, flags)
    assert decode(KEY, encode(KEY, sent)) == sent


def test_flags_read_as_seen_and_listening() -> None:
    answer = message(None, Kind.ANSWER, beacon.SEEN | beacon.LISTENING_UDP)
    assert answer.seen
    assert answer.listening(udp=True)
    assert not answer.listening(udp=False)
    assert not message(None, Kind.ANSWER, beacon.LISTENING_TCP).seen


@pytest.mark.parametrize("offset", range(SIZE))
def test_any_altered_byte_is_refused(offset: int) -> None:
    data = bytearray(encode(KEY, message(Endpoint("fd00::10", 443))))
    data[offset] ^= 0x01
    assert decode(KEY, bytes(data)) is None


def test_another_key_is_refused() -> None:
    assert decode(OTHER_KEY, encode(KEY, message(Endpoint("127.0.0.1", 1)))) is None


@pytest.mark.parametrize("size", [0, 8, SIZE - 1, SIZE + 1, 2 * SIZE])
def test_a_wrong_size_is_refused(size: int) -> None:
    data = encode(KEY, message(None))
    data = (data * 3)[:size]
    assert decode(KEY, data) is None


@pytest.mark.parametrize(("offset", "value"), [(8, 0x7F), (28, 5), (28, 0xFF)])
def test_an_unknown_kind_or_family_is_refused_even_with_a_valid_mac(
    offset: int, value: int
) -> None:
    data = encode(KEY, message(Endpoint("127.0.0.1", 1)))
    assert decode(KEY, remac(data, offset, data[offset])) is not None  # the helper is sound
    assert decode(KEY, remac(data, offset, value)) is None


@given(st.binary(max_size=2 * SIZE))
def test_arbitrary_bytes_never_raise_nor_decode(data: bytes) -> None:
    assert decode(KEY, data) is None


@given(st.binary(min_size=SIZE - len(beacon.MAGIC), max_size=SIZE - len(beacon.MAGIC)))
def test_arbitrary_messages_with_the_magic_never_decode(rest: bytes) -> None:
    assert decode(KEY, beacon.MAGIC + rest) is None


def test_same_endpoint_reads_mapped_addresses_as_ipv4() -> None:
    assert beacon.same_endpoint(Endpoint("::ffff:198.18.0.1", 5), Endpoint("198.18.0.1", 5))
    assert not beacon.same_endpoint(Endpoint("198.18.0.1", 5), Endpoint("198.18.0.1", 6))
    assert not beacon.same_endpoint(Endpoint("198.18.0.1", 5), Endpoint("198.18.0.2", 5))


def test_tokens_parse_to_a_derived_key() -> None:
    token = beacon.new_token()
    key = beacon.parse_token(token)
    assert len(key) == 32
    assert bytes.fromhex(token) not in key
    assert beacon.parse_token(" ".join([token[:16].upper(), token[16:]])) == key
    assert len(beacon.fingerprint(key)) == 8
    assert beacon.fingerprint(key) != beacon.fingerprint(OTHER_KEY)


@pytest.mark.parametrize("text", ["", "00" * 15, "00" * 17, "g" * 32])
def test_a_malformed_token_is_refused(text: str) -> None:
    with pytest.raises(beacon.TokenError):
        beacon.parse_token(text)
