"""The report: its model (a public JSON contract), how it is collected during a run, how
it is written (atomically, streaming the results so memory stays flat), and how the
formats read the results back (typed rows, ``rows.py``)."""
