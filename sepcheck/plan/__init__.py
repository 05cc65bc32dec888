"""The plan: catalogue x topology x vantage -> the probes this host should send.

Pure and lazy: ``Plan.probes()`` walks host specs as it goes, so a /16 of clients is never
held in memory, and ``Plan.total`` is known before anything is walked. Entries that are
not planned are kept with the reason (wrong version, feature off, no hosts for the role,
skipped by the user), so the user sees why a flow is missing, and required flows with no
destination hosts are reported as gaps.

The package has six parts: ``probe`` (what the engine sends), ``skips`` (why an entry is
not planned), ``targets`` (spec identity and IP version), ``vantage`` (this host's roles),
``flows`` (the Plan value and probe sharing) and ``build`` (build_plan). Import from here.
Importing the plan does not load pydantic (about 100 ms): the catalogue and the topology
are only types to it, imported under TYPE_CHECKING, so code that needs ``Probe`` alone
(the engine, the results) does not pay for the file models.
"""

from __future__ import annotations

from sepcheck.plan.build import build_plan
from sepcheck.plan.flows import FlowPlan, GroupPlan, Plan, ProbeKey
from sepcheck.plan.probe import Probe
from sepcheck.plan.skips import Skipped, SkipReason
from sepcheck.plan.targets import LOOPBACK, IPv4Part, spec_key, spec_version
from sepcheck.plan.vantage import Vantage, infer_vantage

__all__ = [
    "LOOPBACK",
    "FlowPlan",
    "GroupPlan",
    "IPv4Part",
    "Plan",
    "Probe",
    "ProbeKey",
    "SkipReason",
    "Skipped",
    "Vantage",
    "build_plan",
    "infer_vantage",
    "spec_key",
    "spec_version",
]
