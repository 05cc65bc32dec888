"""Raw mode: SYN probes and first-hand ICMP, split by job (see backend.py)."""

from sepcheck.net.raw.backend import RawBackend
from sepcheck.net.raw.privilege import PRIVILEGE_HINT, PRIVILEGE_MESSAGE, raw_problem

__all__ = ["PRIVILEGE_HINT", "PRIVILEGE_MESSAGE", "RawBackend", "raw_problem"]
