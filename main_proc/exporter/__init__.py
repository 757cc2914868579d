"""The Prometheus exporter: HTTP, its modules file, where a module may probe, probe requests
and their metrics."""
