"""Renderers: turn catalogue entries, plans and (later) reports into text or rich tables.

Renderers never do I/O on their own: they return strings, rich renderables or iterators
of text chunks, and the CLI decides where they go.
"""
