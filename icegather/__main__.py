"""``python -m icegather``: the ``icegather`` command line."""

from icegather.main_proc.commands.cli import main

main()
