"""The Prometheus exporter: HTTP, its modules file, probe requests and their metrics."""
