"""The icegather command line: options, and one module per command (gather, audit, report, exporter)."""
