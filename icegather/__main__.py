"""``python -m icegather``: the ``icegather`` command line."""

from icegather.main_proc.cli import main

main()
