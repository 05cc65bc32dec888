"""sepcheck: reachability probe and audit tool for Symantec Endpoint Protection deployments."""

__version__ = "0.1.0"
