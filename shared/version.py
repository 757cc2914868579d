"""icegather's version: a module of its own, so the commands can import it from below."""

__version__ = "0.2.0"
