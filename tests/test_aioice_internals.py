"""What the transport takes from aioice beyond its documented use, each checked, so that a
release that changes one fails here by name (pyproject.toml allows aioice 0.13 only until a
newer one has passed these)."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest
from aioice import stun
from test_stun_requests import allocate

from icegather.transport_proc.stun.address_families import IPV6_ALONE, family_attributes
from icegather.transport_proc.stun.parser import parse_stun
from icegather.transport_proc.stun.requests import Request

KEY = b"0123456789abcdef"


def attribute_types(data: bytes) -> list[int]:
    kinds, position = [], stun.HEADER_LENGTH
    while position < len(data):
        kind, size = struct.unpack_from("!HH", data, position)
        kinds.append(kind)
        position += 4 + size + stun.padding_length(size)
    return kinds


def test_a_sealed_request_has_its_raw_attributes_then_message_integrity_then_fingerprint_last():
    request = Request(stun.Method.ALLOCATE, family_attributes(IPV6_ALONE))
    request.attributes["LIFETIME"] = 600
    request.seal(KEY)
    data = bytes(request)

    assert attribute_types(data)[-3:] == [0x0017, 0x0008, 0x8028]  # the family, MESSAGE-INTEGRITY, FINGERPRINT
    assert struct.unpack_from("!H", data, 2)[0] == len(data) - stun.HEADER_LENGTH  # the length covers it
    assert parse_stun(data).check_message_integrity(KEY)


def aioice_signed(request: Request, key: bytes | None) -> bytes:
    """The same message, signed by aioice's own helpers (which encode it again for each)."""
    plain = stun.Message(request.message_method, request.message_class, request.transaction_id,
                         dict(request.attributes))
    if key is None:
        plain.add_fingerprint()
    else:
        plain.add_message_integrity(key)
    return bytes(plain)


@pytest.mark.parametrize("key", [KEY, None], ids=["signed", "fingerprint only"])
def test_a_sealed_request_is_byte_for_byte_what_aioice_signs(key: bytes | None) -> None:
    request = allocate()
    expected = aioice_signed(request, key)

    request.seal(key)

    assert bytes(request) == expected
    assert list(request.attributes)[-2:] == (["MESSAGE-INTEGRITY", "FINGERPRINT"] if key else ["NONCE", "FINGERPRINT"])


def test_aioice_attribute_table_has_the_shape_the_parser_unpacks():
    for entry in stun.ATTRIBUTES_BY_TYPE.values():
        _, name, _, unpack = entry  # the parser's own unpacking of each entry
        assert isinstance(name, str) and callable(unpack)
    assert stun.ATTRIBUTES_BY_TYPE[0x0020][3] is stun.unpack_xor_address  # XOR-MAPPED-ADDRESS


def test_aioice_stun_imports_no_other_aioice_module_than_utils():
    # The transport process loads aioice.stun without aioice's __init__ (its ICE agent).
    code = (
        "import sys\n"
        "from icegather.transport_proc.__main__ import load_aioice_without_its_agent\n"
        "load_aioice_without_its_agent()\n"
        "import aioice.stun\n"
        "print(sorted(m for m in sys.modules if m.startswith('aioice')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "['aioice', 'aioice.stun', 'aioice.utils']"
