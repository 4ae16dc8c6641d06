"""Fossil delta (client-protocol.md §15): our encoder against our decoder and the SDK's.

centrifuge-python's ``centrifuge.fossil.apply_delta`` is the decoder the Python SDK runs on
every delta publication; each delta we make must decode there to the exact target.
"""

from __future__ import annotations

import json

import pytest
from centrifuge.fossil import apply_delta as sdk_apply
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whirlwind.protocol import fossil

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300)


def _decode_int(digits: bytes) -> int:
    alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
    value = 0
    for digit in digits:
        value = value * 64 + alphabet.index(digit)
    return value


def _roundtrip(source: bytes, target: bytes) -> bytes:
    delta = fossil.delta(source, target)
    assert fossil.apply(source, delta) == target
    assert sdk_apply(source, delta) == target
    return delta


def test_tv3_verified_pair_decodes() -> None:
    """TV3: the delta centrifuge-js 5.8 accepted turns {"v":1} into {"v":2}."""
    assert fossil.apply(b'{"v":1}', b"7\n5@0,2:2}2qLFCY;") == b'{"v":2}'
    assert fossil.checksum(b'{"v":2}') == _decode_int(b"2qLFCY")


def test_tv3_our_delta_decodes_to_the_same_target() -> None:
    delta = _roundtrip(b'{"v":1}', b'{"v":2}')
    assert delta.startswith(b"7\n") and delta.endswith(b"2qLFCY;")


def test_checksum_matches_the_sdk() -> None:
    from centrifuge.fossil import checksum as sdk_checksum

    for data in (b"", b"a", b"ab", b"abc", b"abcd", bytes(range(256)) * 3, b"\xff" * 1001):
        assert fossil.checksum(data) == sdk_checksum(data)


def test_similar_documents_give_a_small_delta() -> None:
    doc = {"items": [{"id": i, "name": f"item {i}", "price": i * 1.5} for i in range(300)]}
    source = json.dumps(doc).encode()
    doc["items"][150]["price"] = -1
    doc["items"].insert(10, {"id": "new", "name": "ünïcödé"})
    target = json.dumps(doc, ensure_ascii=False).encode()
    delta = _roundtrip(source, target)
    assert len(delta) < len(target) // 50
    assert fossil.delta(source, source) == b"%s\n%s@0,%s;" % (
        fossil._put_int(len(source)),
        fossil._put_int(len(source)),
        fossil._put_int(fossil.checksum(source)),
    )


def test_copies_never_split_a_utf8_character() -> None:
    """A delta of UTF-8 text is UTF-8: JSON subscribers get it as a string (§15)."""
    source = ("é" * 40 + "x" * 40).encode()
    target = ("è" * 40 + "x" * 40).encode()  # é = C3 A9, è = C3 A8: every other byte equal
    delta = _roundtrip(source, target)
    text = delta.decode("utf-8")
    assert sdk_apply(source, text.encode("utf-8")) == target


def test_apply_rejects_broken_deltas() -> None:
    good = fossil.delta(b"0123456789abcdefghij", b"0123456789abcdefXYZ")
    assert fossil.apply(b"0123456789abcdefghij", good) == b"0123456789abcdefXYZ"
    for bad in (
        good[:-1],  # unterminated
        good.replace(b";", b"A;"),  # bad checksum
        b"3\n3:abc",  # no checksum
        b"3\n1@99,%s;" % fossil._put_int(fossil.checksum(b"abc")),  # copy outside source
        b"2\n3:abc%s;" % fossil._put_int(fossil.checksum(b"abc")),  # larger than announced
        b"3 3:abc;",  # size not ended by a newline
        b"3\n3?abc;",  # unknown operator
    ):
        with pytest.raises(ValueError):
            fossil.apply(b"0123456789abcdefghij", bad)


@PROPERTY
@given(st.binary(max_size=600), st.binary(max_size=600))
def test_random_bytes_roundtrip(source: bytes, target: bytes) -> None:
    _roundtrip(source, target)


@PROPERTY
@given(st.binary(min_size=1, max_size=2000), st.data())
def test_edited_bytes_roundtrip(source: bytes, data: st.DataObject) -> None:
    """Targets made by editing the source: the case delta compression is for."""
    target = bytearray(source)
    for _ in range(data.draw(st.integers(0, 6))):
        at = data.draw(st.integers(0, len(target)))
        cut = data.draw(st.integers(0, 40))
        target[at : at + cut] = data.draw(st.binary(max_size=40))
    _roundtrip(source, bytes(target))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=60,
)


@settings(PROPERTY, max_examples=100)
@given(_json_values, _json_values, st.booleans())
def test_json_documents_roundtrip_as_text(first: object, second: object, ascii_only: bool) -> None:
    """JSON-ish payloads: the delta is text and survives str → UTF-8 as the SDKs do it."""
    source = json.dumps({"a": first, "b": second}, ensure_ascii=ascii_only).encode()
    target = json.dumps({"a": first, "b": second, "c": first}, ensure_ascii=ascii_only).encode()
    delta = _roundtrip(source, target)
    assert sdk_apply(source, delta.decode("utf-8").encode("utf-8")) == target
