"""A classic BPF filter that keeps a raw TCP socket's queue to the probes' own replies.

A raw TCP socket receives a copy of every TCP segment the host gets: on a busy server (a
SEP manager with its clients) that would be thousands a second for the event loop to read
and discard. The program keeps only those whose destination port is the probes' source
port. An IPv4 raw socket's filter sees the IP header first (the TCP header starts at
IHL*4); an IPv6 one sees the TCP header. Linux only; where it cannot be attached, the
reader filters by port itself (``dispatch.py``).
"""

from __future__ import annotations

import contextlib
import socket
import struct

_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
_BPF_LDX_B_MSH, _BPF_LD_H_IND, _BPF_LD_H_ABS = 0xB1, 0x48, 0x28
_BPF_JEQ_K, _BPF_RET_K = 0x15, 0x06


def program(version: int, port: int) -> list[tuple[int, int, int, int]]:
    """The filter's instructions (code, jt, jf, k) for IP ``version``."""
    if version == 4:
        load = [
            (_BPF_LDX_B_MSH, 0, 0, 0),  # X = 4 * (IP header length)
            (_BPF_LD_H_IND, 0, 0, 2),  # A = TCP destination port
        ]
    else:
        load = [(_BPF_LD_H_ABS, 0, 0, 2)]
    return [*load, (_BPF_JEQ_K, 0, 1, port), (_BPF_RET_K, 0, 0, 0x40000), (_BPF_RET_K, 0, 0, 0)]


def keep_only_port(sock: socket.socket, version: int, port: int) -> None:
    """Have the kernel drop, before they are queued, the TCP segments not sent to ``port``."""
    import ctypes

    instructions = program(version, port)
    code = b"".join(struct.pack("HBBI", *insn) for insn in instructions)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(instructions), ctypes.addressof(buffer))
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
