"""The report: its model (a public JSON contract), how it is collected during a run, and
how it is written (atomically, streaming the results so memory stays flat)."""
