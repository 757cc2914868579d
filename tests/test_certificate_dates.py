"""A certificate's notAfter, read by the audit without cryptography (``certificate_dates``),
as cryptography reads it; and nothing but a time or None from any bytes."""

from __future__ import annotations

import datetime

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from icegather.transport_proc.audit.certificate_dates import not_after


@pytest.fixture(scope="module")
def dating_authority() -> trustme.CA:
    return trustme.CA()


def der_of(certificate: trustme.LeafCert) -> bytes:
    return x509.load_pem_x509_certificate(certificate.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)


@pytest.mark.parametrize("year", [1950, 1969, 2030, 2049, 2050, 2107, 9999])
def test_not_after_reads_what_cryptography_reads(dating_authority, year):
    """Before 1970 it is negative; from 2050 on the certificate holds a GeneralizedTime."""
    first = datetime.datetime(1950, 1, 1, tzinfo=datetime.timezone.utc)  # cryptography's earliest
    end = datetime.datetime(year, 12, 31, 23, 59, 58, tzinfo=datetime.timezone.utc)
    der = der_of(dating_authority.issue_cert("localhost", not_before=first, not_after=end))

    assert not_after(der) == int(x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp())
    assert (b"\x18\x0f" + str(year).encode() in der) == (year >= 2050)  # GeneralizedTime, YYYY


def test_not_after_of_an_ordinary_certificate(dating_authority):
    der = der_of(dating_authority.issue_cert("localhost"))

    assert not_after(der) == int(x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp())


def test_not_after_of_what_is_no_certificate_is_none(dating_authority):
    leaf = dating_authority.issue_cert("localhost")
    der = der_of(leaf)
    public_key = x509.load_der_x509_certificate(der).public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # a SEQUENCE of SEQUENCEs, as a certificate is
    garbage = [b"", b"\x00", b"\x30", b"\x30\x80", b"\x30\x85\xff\xff\xff\xff\xff", der[: len(der) // 2], der[:-1],
               leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes(), public_key]

    assert [not_after(bytes_) for bytes_ in garbage] == [None] * len(garbage)


@given(st.binary(max_size=300))
def test_not_after_of_any_bytes_is_a_time_or_none_never_an_exception(data):
    assert not_after(data) is None or isinstance(not_after(data), int)
