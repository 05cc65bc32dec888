"""The probe engine (scheduling only): see core.py."""

from sepcheck.engine.core import Engine, EngineSettings, RunStats, Sink, Target
from sepcheck.engine.limits import raise_fd_limit

__all__ = ["Engine", "EngineSettings", "RunStats", "Sink", "Target", "raise_fd_limit"]
