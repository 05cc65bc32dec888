"""Name resolution for a run: each name is resolved once; concurrent probes of a name
share the lookup."""

from __future__ import annotations

import asyncio

from sepcheck.net.protocols import Backend


class Resolver:
    def __init__(self, backend: Backend, family: int) -> None:
        self.backend = backend
        self.family = family
        self.cache: dict[str, asyncio.Future[list[str] | str]] = {}

    async def resolve(self, name: str) -> list[str] | str:
        """The addresses of ``name``, or the error text when it does not resolve."""
        future = self.cache.get(name)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self.cache[name] = future
            try:
                addresses = await self.backend.resolve(name, self.family)
                future.set_result(addresses or "no address")
            except OSError as exc:
                future.set_result(exc.strerror or str(exc))
            except BaseException:
                del self.cache[name]
                future.cancel()
                raise
        return await asyncio.shield(future)


def ipv4_only(found: list[str] | str) -> list[str] | str:
    """NetBIOS over TCP/IP has no IPv6 form: a name's IPv6 addresses are no path."""
    if isinstance(found, str):
        return found
    return [a for a in found if ":" not in a] or (
        "it has no IPv4 address, and this protocol is IPv4 only"
    )
