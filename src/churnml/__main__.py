"""`python -m churnml` runs the command line."""

from churnml.cli import main

main()
