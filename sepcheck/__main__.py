"""``python -m sepcheck`` runs the command line."""

from sepcheck.cli import main

main()
