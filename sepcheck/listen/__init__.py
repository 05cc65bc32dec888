"""`sepcheck listen`: the responder that makes pre-install checks conclusive.

Before SEP is installed nothing listens on its ports, so a check can only say "refused"
(or nothing at all, for UDP). The responder listens on the ports a role receives and
answers the probes of `sepcheck check` that carry the run's token (``net/beacon.py``), so
the prober learns that its probe arrived, and from which source the responder saw it.

One module per role: ``ports`` (which ports), ``sockets`` (binding them, never over a real
service), ``limits`` (rate limits, the connection cap, the bounded nonce memory),
``events`` (what it saw), ``server`` (the asyncio responder), ``session`` (one run: the
signals and the duration) and ``report`` (its JSON report). It never prints: what it sees
goes to a callback the command line prints.
"""
