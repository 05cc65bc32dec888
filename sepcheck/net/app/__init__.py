"""Application checks at the network edge: small protocol clients that run after a TCP
port answered open, each reading at most a few kilobytes within the caller's deadline, and
never sending anything that changes state on the server (GET requests and handshakes, no
credentials). They return facts in ``facts.py``'s words, or raise ``AppFailure``; what
the facts mean for a SEP flow is decided outside ``net/`` (``sepcheck/appcheck/``)."""
