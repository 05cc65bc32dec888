"""``python -m sepcheck`` runs the command line."""

from sepcheck.entry import main

main()
