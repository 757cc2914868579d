"""The error the main process's side of the link raises when a transport fails.

A module of its own: the command line spawns its transport (``transport_process``) before it
loads anything else, and catching this error must not load the rest of the link.
"""


class TransportError(Exception):
    """The transport process failed, refused a request, or could not be reached."""
