"""TURN credentials: minted from a shared secret (TURN REST API), or read from files or the environment."""
