"""Application checks: what sepcheck reads after a TCP port answered open, and what it
means for the flow. Definitions are data (probes/app.toml, ``definitions.py``); the
protocol clients live at the network edge (``sepcheck.net.app``); ``interpret.py`` turns
their facts into a finding, ``runner.py`` runs them during a check, ``detect.py`` reads
the manager's version before planning (``sep_version = "auto"``)."""
