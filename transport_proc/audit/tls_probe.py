"""What a ``stuns:``/``turns:`` server's TLS is like: which protocol versions it accepts, and
its certificate as a browser would judge it.

* A version is tried with a handshake that offers that version only, with OpenSSL's security
  level 0 so that this side never refuses TLS 1.0 or 1.1 itself: the answer is the server's.
* The certificate is verified as a browser would (the system's trust store, or
  ``SSL_CERT_FILE``; the URL's host name); OpenSSL's verification code and message say what is
  wrong. A second handshake, verifying nothing, reads the certificate's end of validity
  (``certificate_dates``), also when verification failed.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import warnings
from dataclasses import dataclass

from icegather.shared.net.endpoints import Address
from icegather.transport_proc.audit.certificate_dates import not_after
from icegather.transport_proc.stun.tls_contexts import tls_context

VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class Handshake:
    """How one handshake went: done, or the reason it failed; 7xx when nothing usable came
    back (no connection, a timeout)."""

    done: bool
    code: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Certificate:
    # The handshake that verified it as a browser would: done, or OpenSSL's verification code
    # and message.
    verification: Handshake
    # The end of its validity, Unix time (negative before 1970); 0 when it could not be read.
    expires: int


@functools.cache
def version_context(version: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # offer what old servers take; judge nothing here
    with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: finding servers that take them is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = VERSIONS[version]
    return context


async def handshake(
    server: Address, hostname: str, context: ssl.SSLContext, local_ip: str, timeout: float
) -> tuple[Handshake, bytes | None]:
    """One TLS handshake; how it went and the server's certificate (DER), if it sent one."""
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(
                server[0], server[1], ssl=context, server_hostname=hostname, local_addr=(local_ip, 0),
                ssl_handshake_timeout=timeout,
            ),
            timeout,
        )
    except ssl.SSLCertVerificationError as exc:
        return Handshake(False, exc.verify_code, exc.verify_message or str(exc.reason)), None
    except ssl.SSLError as exc:
        return Handshake(False, 0, exc.reason or str(exc)), None
    except (asyncio.TimeoutError, TimeoutError):
        return Handshake(False, 701, f"no TLS handshake in {timeout:g} s"), None
    except OSError as exc:
        return Handshake(False, 701, exc.strerror or str(exc)), None
    tls = writer.get_extra_info("ssl_object")
    der = tls.getpeercert(binary_form=True) if tls is not None else None
    writer.transport.abort()  # not close(): it would wait for the server's close_notify, up to 30 s
    return Handshake(True), der


async def accepts_version(server: Address, hostname: str, version: str, local_ip: str, timeout: float) -> Handshake:
    done, _ = await handshake(server, hostname, version_context(version), local_ip, timeout)
    return done


async def certificate(server: Address, hostname: str, local_ip: str, timeout: float) -> Certificate | Handshake:
    """The certificate's verification and expiry, or the handshake failure that kept us from it."""
    verified, _ = await handshake(server, hostname, tls_context(True), local_ip, timeout)
    read, der = await handshake(server, hostname, tls_context(False), local_ip, timeout)
    if not read.done:
        return read
    expires = not_after(der) if der else None
    return Certificate(verified, 0 if expires is None else expires)
