"""Raw mode: SYN probes and first-hand ICMP, split by job (see backend.py). Linux only.

Importing this package loads only ``privilege`` (whether raw mode can run here), so the
command line can ask on any platform; the backend is ``sepcheck.net.raw.backend``.
"""

from sepcheck.net.raw.privilege import PRIVILEGE_HINT, PRIVILEGE_MESSAGE, raw_problem

__all__ = ["PRIVILEGE_HINT", "PRIVILEGE_MESSAGE", "raw_problem"]
