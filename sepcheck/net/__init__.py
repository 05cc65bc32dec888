"""The network edge: backends that send probes and turn OS answers into outcomes.

Everything that touches sockets lives here; errno and ICMP codes are translated into
states and reasons in one place (``classify.py``).
"""
