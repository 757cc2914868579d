"""The TLS contexts of ``stuns:``/``turns:`` URLs and the audit, one of each kind per process.

A verifying context reads the system's CA certificates (about 17 ms), so it is made on first use
and kept: a transport that never verifies a certificate never reads them. The confined
transport may still read that one file (``sandbox.confinement.certificate_files``).
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """A client context that verifies as a browser would (the system's trust store, or
    ``SSL_CERT_FILE``; the host name), or verifies nothing: the same defaults (TLS 1.2 and up)
    without certificates."""
    if verify:
        return ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
