"""FrameReader and the server-frame builders (RFC 6455 §5, RFC 7692), bytes in, events out.

Client frames are built by a small encoder here, independent of the code under test.
"""

from __future__ import annotations

import itertools
import os
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whirlwind.transports.ws_frames import (
    CLOSE_INVALID_DATA,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameError,
    FrameReader,
    close_frame,
    frame_header,
    parse_close,
    pong_frame,
    unmask,
)

MASK = b"\x37\xfa\x21\x3d"


def xor(payload: bytes, mask: bytes) -> bytes:
    """Mask byte by byte, the plain way (§5.3)."""
    return bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = MASK,
) -> bytes:
    """One client frame: masked unless ``mask`` is None; ``rsv`` is 0x40/0x20/0x10 bits."""
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes((first, mask_bit | n))
    elif n < 65536:
        head = bytes((first, mask_bit | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, mask_bit | 127)) + n.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + xor(payload, mask)


def deflate_parts(compressor: zlib._Compress, message: bytes) -> bytes:
    """RFC 7692 §7.2.1: compress, sync-flush, drop the trailing 00 00 ff ff."""
    data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def new_compressor() -> zlib._Compress:
    return zlib.compressobj(wbits=-15)


def feed_bytewise(reader: FrameReader, data: bytes) -> list[tuple[int, bytes]]:
    events: list[tuple[int, bytes]] = []
    for i in range(len(data)):
        events += reader.feed(data[i : i + 1])
    return events


# ------------------------------------------------------------ plain frames


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_single_frame(opcode: int) -> None:
    reader = FrameReader(1 << 20)
    assert reader.feed(client_frame(opcode, b'{"id":1}')) == [(opcode, b'{"id":1}')]


def test_empty_message() -> None:
    reader = FrameReader(1 << 20)
    assert reader.feed(client_frame(OP_TEXT, b"")) == [(OP_TEXT, b"")]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_every_length_encoding(size: int) -> None:
    """7-bit, 16-bit and 64-bit lengths (§5.2), on each side of each boundary."""
    payload = os.urandom(size)
    reader = FrameReader(1 << 20)
    assert reader.feed(client_frame(OP_BINARY, payload)) == [(OP_BINARY, payload)]


@pytest.mark.parametrize("size", [125, 126, 65535, 65536])
def test_length_boundaries_fed_byte_by_byte(size: int) -> None:
    """A frame split anywhere (inside the extended length, the mask, the payload)."""
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = client_frame(OP_BINARY, payload)
    reader = FrameReader(1 << 20)
    head = frame[:20]
    events: list[tuple[int, bytes]] = []
    for i in range(len(head)):
        events += reader.feed(head[i : i + 1])
    events += reader.feed(frame[20:])
    assert events == [(OP_BINARY, payload)]


def test_byte_by_byte_feeding() -> None:
    stream = (
        client_frame(OP_TEXT, b"hello")
        + client_frame(OP_PING, b"p")
        + client_frame(OP_BINARY, b"x" * 300)
    )
    reader = FrameReader(1 << 20)
    assert feed_bytewise(reader, stream) == [
        (OP_TEXT, b"hello"),
        (OP_PING, b"p"),
        (OP_BINARY, b"x" * 300),
    ]


def test_many_frames_in_one_feed() -> None:
    messages = [f"message {i}".encode() for i in range(100)]
    stream = b"".join(client_frame(OP_TEXT, m) for m in messages)
    reader = FrameReader(1 << 20)
    assert reader.feed(stream) == [(OP_TEXT, m) for m in messages]


def test_control_frames_are_returned() -> None:
    reader = FrameReader(1 << 20)
    stream = client_frame(OP_PING, b"ping!") + client_frame(OP_PONG, b"pong!")
    assert reader.feed(stream) == [(OP_PING, b"ping!"), (OP_PONG, b"pong!")]


def test_control_frame_of_125_bytes_is_allowed() -> None:
    reader = FrameReader(1 << 20)
    assert reader.feed(client_frame(OP_PING, b"p" * 125)) == [(OP_PING, b"p" * 125)]


def test_partial_frame_returns_nothing_until_complete() -> None:
    frame = client_frame(OP_TEXT, b"abcdef")
    reader = FrameReader(1 << 20)
    assert reader.feed(frame[:-1]) == []
    assert reader.feed(frame[-1:]) == [(OP_TEXT, b"abcdef")]


# ------------------------------------------------------------ fragmentation


def test_fragmented_message_with_interleaved_ping() -> None:
    """§5.4: control frames may come between the fragments of a message."""
    stream = (
        client_frame(OP_TEXT, b"hel", fin=False)
        + client_frame(OP_CONTINUATION, b"lo ", fin=False)
        + client_frame(OP_PING, b"in the middle")
        + client_frame(OP_CONTINUATION, b"world")
    )
    reader = FrameReader(1 << 20)
    assert reader.feed(stream) == [(OP_PING, b"in the middle"), (OP_TEXT, b"hello world")]


def test_fragmented_binary_message_fed_bytewise() -> None:
    stream = client_frame(OP_BINARY, b"\x00\x01", fin=False) + client_frame(
        OP_CONTINUATION, b"\x02"
    )
    reader = FrameReader(1 << 20)
    assert feed_bytewise(reader, stream) == [(OP_BINARY, b"\x00\x01\x02")]


def test_fragments_with_empty_parts() -> None:
    stream = (
        client_frame(OP_TEXT, b"", fin=False)
        + client_frame(OP_CONTINUATION, b"", fin=False)
        + client_frame(OP_CONTINUATION, b"x")
    )
    assert FrameReader(100).feed(stream) == [(OP_TEXT, b"x")]


def test_continuation_without_start_is_protocol_error() -> None:
    reader = FrameReader(1 << 20)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_CONTINUATION, b"orphan"))
    assert info.value.code == CLOSE_PROTOCOL_ERROR


def test_new_message_inside_fragmented_one_is_protocol_error() -> None:
    reader = FrameReader(1 << 20)
    reader.feed(client_frame(OP_TEXT, b"a", fin=False))
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_TEXT, b"b"))
    assert info.value.code == CLOSE_PROTOCOL_ERROR


# ------------------------------------------------------------ protocol errors


def test_unmasked_frame_is_fatal_protocol_error() -> None:
    reader = FrameReader(1 << 20)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_TEXT, b"hi", mask=None))
    assert info.value.code == CLOSE_PROTOCOL_ERROR
    assert info.value.fatal
    # Nothing is parsed after a fatal error.
    assert reader.feed(client_frame(OP_CLOSE, b"\x03\xe8")) == []


def test_oversized_control_frame_is_protocol_error() -> None:
    """§5.5: control frames carry at most 125 bytes."""
    reader = FrameReader(1 << 20)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_PING, b"p" * 126))
    assert info.value.code == CLOSE_PROTOCOL_ERROR


def test_fragmented_control_frame_is_protocol_error() -> None:
    reader = FrameReader(1 << 20)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_PING, b"p", fin=False))
    assert info.value.code == CLOSE_PROTOCOL_ERROR


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10])
def test_reserved_bits_without_deflate_are_protocol_error(rsv: int) -> None:
    reader = FrameReader(1 << 20)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_TEXT, b"hi", rsv=rsv))
    assert info.value.code == CLOSE_PROTOCOL_ERROR


@pytest.mark.parametrize("rsv", [0x20, 0x10])
def test_rsv2_rsv3_with_deflate_are_protocol_error(rsv: int) -> None:
    reader = FrameReader(1 << 20, deflate=True)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_TEXT, b"hi", rsv=rsv))
    assert info.value.code == CLOSE_PROTOCOL_ERROR


def test_rsv1_on_control_frame_with_deflate_is_protocol_error() -> None:
    """RFC 7692 §6.1: RSV1 is only for the first frame of a data message."""
    reader = FrameReader(1 << 20, deflate=True)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_PING, b"", rsv=0x40))
    assert info.value.code == CLOSE_PROTOCOL_ERROR


def test_rsv1_on_continuation_frame_is_protocol_error() -> None:
    reader = FrameReader(1 << 20, deflate=True)
    compressed = deflate_parts(new_compressor(), b"hello")
    reader.feed(client_frame(OP_TEXT, compressed[:2], fin=False, rsv=0x40))
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_CONTINUATION, compressed[2:], rsv=0x40))
    assert info.value.code == CLOSE_PROTOCOL_ERROR


@pytest.mark.parametrize("opcode", [0x3, 0x7, 0xB, 0xF])
def test_unknown_opcode_is_protocol_error(opcode: int) -> None:
    reader = FrameReader(1 << 20)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(opcode, b""))
    assert info.value.code == CLOSE_PROTOCOL_ERROR


def test_protocol_error_is_not_fatal_and_parsing_goes_on() -> None:
    """A non-fatal error skips the frame: the client's close reply is still seen."""
    reader = FrameReader(1 << 20)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_CONTINUATION, b"orphan") + client_frame(OP_CLOSE, b"\x03\xe8"))
    assert not info.value.fatal
    assert reader.feed(b"") == [(OP_CLOSE, b"\x03\xe8")]


# ------------------------------------------------------------ size limit


def test_message_over_max_size_is_too_big_and_parsing_resyncs() -> None:
    reader = FrameReader(100)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_TEXT, b"x" * 101) + client_frame(OP_CLOSE, b"\x03\xe8"))
    assert info.value.code == CLOSE_TOO_BIG
    assert not info.value.fatal
    assert reader.feed(b"") == [(OP_CLOSE, b"\x03\xe8")]


def test_message_of_exactly_max_size_is_accepted() -> None:
    reader = FrameReader(100)
    assert reader.feed(client_frame(OP_TEXT, b"x" * 100)) == [(OP_TEXT, b"x" * 100)]


def test_oversized_frame_is_refused_from_its_header() -> None:
    """The limit is checked as soon as the length is known, not after buffering it all."""
    reader = FrameReader(100)
    frame = client_frame(OP_BINARY, b"x" * 70000)
    with pytest.raises(FrameError) as info:
        reader.feed(frame[:14])
    assert info.value.code == CLOSE_TOO_BIG


@pytest.mark.parametrize("chunk", [1, 7, 50, 1000])
def test_oversized_frame_split_over_feeds_is_skipped(chunk: int) -> None:
    """The rest of an oversized frame, in any number of feeds, is dropped unparsed."""
    payload = client_frame(OP_TEXT, b"a" * 50)  # looks like frames inside the big one
    stream = client_frame(OP_BINARY, payload * 60) + client_frame(OP_CLOSE, b"\x03\xe8")
    reader = FrameReader(100)
    errors: list[FrameError] = []
    events: list[tuple[int, bytes]] = []
    for i in range(0, len(stream), chunk):
        try:
            events += reader.feed(stream[i : i + chunk])
        except FrameError as exc:
            errors.append(exc)
    events += reader.feed(b"")
    assert [e.code for e in errors] == [CLOSE_TOO_BIG]
    assert events == [(OP_CLOSE, b"\x03\xe8")]


def test_fragmented_message_over_max_size() -> None:
    reader = FrameReader(100)
    reader.feed(client_frame(OP_TEXT, b"x" * 60, fin=False))
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_CONTINUATION, b"x" * 60) + client_frame(OP_PING, b"!"))
    assert info.value.code == CLOSE_TOO_BIG
    assert reader.feed(b"") == [(OP_PING, b"!")]


def test_control_frames_do_not_count_towards_message_size() -> None:
    reader = FrameReader(100)
    stream = (
        client_frame(OP_TEXT, b"x" * 60, fin=False)
        + client_frame(OP_PING, b"p" * 100)
        + client_frame(OP_CONTINUATION, b"y" * 40)
    )
    assert reader.feed(stream) == [(OP_PING, b"p" * 100), (OP_TEXT, b"x" * 60 + b"y" * 40)]


# ------------------------------------------------------------ permessage-deflate


def test_deflate_single_frame() -> None:
    compressor = new_compressor()
    reader = FrameReader(1 << 20, deflate=True)
    frame = client_frame(OP_TEXT, deflate_parts(compressor, b"hello hello hello"), rsv=0x40)
    assert reader.feed(frame) == [(OP_TEXT, b"hello hello hello")]


def test_deflate_uncompressed_message_passes_through() -> None:
    """RSV1 clear: the message was sent uncompressed (RFC 7692 §6)."""
    reader = FrameReader(1 << 20, deflate=True)
    assert reader.feed(client_frame(OP_BINARY, b"plain")) == [(OP_BINARY, b"plain")]


def test_deflate_empty_message() -> None:
    compressor = new_compressor()
    reader = FrameReader(1 << 20, deflate=True)
    frame = client_frame(OP_TEXT, deflate_parts(compressor, b""), rsv=0x40)
    assert reader.feed(frame) == [(OP_TEXT, b"")]


def test_deflate_fragmented_message() -> None:
    compressor = new_compressor()
    message = b"".join(f'{{"id":{i},"data":"abc"}}'.encode() for i in range(50))
    compressed = deflate_parts(compressor, message)
    third = len(compressed) // 3
    stream = (
        client_frame(OP_BINARY, compressed[:third], fin=False, rsv=0x40)
        + client_frame(OP_CONTINUATION, compressed[third : 2 * third], fin=False)
        + client_frame(OP_PING, b"")
        + client_frame(OP_CONTINUATION, compressed[2 * third :])
    )
    reader = FrameReader(1 << 20, deflate=True)
    assert feed_bytewise(reader, stream) == [(OP_PING, b""), (OP_BINARY, message)]


def test_deflate_context_takeover_across_messages() -> None:
    """The second message refers back to the first one's window (RFC 7692 §7.2.3.2)."""
    compressor = new_compressor()
    message = b'{"channel":"news","data":{"text":"the same text again"}}'
    first = deflate_parts(compressor, message)
    second = deflate_parts(compressor, message)
    assert len(second) < len(first)  # only back-references: useless without the context
    reader = FrameReader(1 << 20, deflate=True)
    stream = client_frame(OP_TEXT, first, rsv=0x40) + client_frame(OP_TEXT, second, rsv=0x40)
    assert reader.feed(stream) == [(OP_TEXT, message), (OP_TEXT, message)]


def test_deflate_mixed_compressed_and_plain_messages() -> None:
    compressor = new_compressor()
    reader = FrameReader(1 << 20, deflate=True)
    stream = (
        client_frame(OP_TEXT, deflate_parts(compressor, b"one one one"), rsv=0x40)
        + client_frame(OP_TEXT, b"two")
        + client_frame(OP_TEXT, deflate_parts(compressor, b"one one one"), rsv=0x40)
    )
    assert reader.feed(stream) == [
        (OP_TEXT, b"one one one"),
        (OP_TEXT, b"two"),
        (OP_TEXT, b"one one one"),
    ]


def test_inflated_over_max_inflated_is_too_big() -> None:
    compressor = new_compressor()
    bomb = deflate_parts(compressor, b"\x00" * 100_000)
    reader = FrameReader(10_000, deflate=True, max_inflated=50_000)
    assert len(bomb) < 10_000
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_BINARY, bomb, rsv=0x40))
    assert info.value.code == CLOSE_TOO_BIG


def test_inflated_exactly_max_inflated_is_accepted() -> None:
    compressor = new_compressor()
    data = b"\x00" * 50_000
    reader = FrameReader(10_000, deflate=True, max_inflated=50_000)
    frame = client_frame(OP_BINARY, deflate_parts(compressor, data), rsv=0x40)
    assert reader.feed(frame) == [(OP_BINARY, data)]


def test_max_inflated_defaults_to_ten_times_max_size() -> None:
    reader = FrameReader(1000, deflate=True)
    ok = deflate_parts(new_compressor(), b"a" * 10_000)
    assert reader.feed(client_frame(OP_TEXT, ok, rsv=0x40)) == [(OP_TEXT, b"a" * 10_000)]
    reader = FrameReader(1000, deflate=True)
    too_big = deflate_parts(new_compressor(), b"a" * 10_001)
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_TEXT, too_big, rsv=0x40))
    assert info.value.code == CLOSE_TOO_BIG


def test_corrupt_deflate_data_is_invalid_data() -> None:
    reader = FrameReader(1 << 20, deflate=True)
    # BTYPE 11 is reserved: an error in the first byte.
    with pytest.raises(FrameError) as info:
        reader.feed(client_frame(OP_TEXT, b"\xff\xff\xff\xff", rsv=0x40))
    assert info.value.code == CLOSE_INVALID_DATA


# ------------------------------------------------------------ close


def test_nothing_is_parsed_after_a_close_frame() -> None:
    reader = FrameReader(1 << 20)
    stream = (
        client_frame(OP_TEXT, b"before")
        + client_frame(OP_CLOSE, b"\x03\xe8bye")
        + client_frame(OP_TEXT, b"after")
    )
    assert reader.feed(stream) == [(OP_TEXT, b"before"), (OP_CLOSE, b"\x03\xe8bye")]
    assert reader.feed(client_frame(OP_TEXT, b"later")) == []
    assert reader.feed(b"\x00garbage, not even a frame") == []


def test_parse_close_empty_payload_is_1005() -> None:
    assert parse_close(b"") == (1005, "")


def test_parse_close_code_and_reason() -> None:
    assert parse_close(b"\x03\xe8") == (1000, "")
    assert parse_close((4001).to_bytes(2, "big") + "bye ✓".encode()) == (4001, "bye ✓")


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
def test_parse_close_valid_codes(code: int) -> None:
    assert parse_close(code.to_bytes(2, "big")) == (code, "")


def test_parse_close_one_byte_payload_is_protocol_error() -> None:
    with pytest.raises(FrameError) as info:
        parse_close(b"\x03")
    assert info.value.code == CLOSE_PROTOCOL_ERROR


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_parse_close_invalid_code_is_protocol_error(code: int) -> None:
    with pytest.raises(FrameError) as info:
        parse_close(code.to_bytes(2, "big"))
    assert info.value.code == CLOSE_PROTOCOL_ERROR


def test_parse_close_reason_not_utf8_is_invalid_data() -> None:
    with pytest.raises(FrameError) as info:
        parse_close(b"\x03\xe8\xff\xfe")
    assert info.value.code == CLOSE_INVALID_DATA


# ------------------------------------------------------------ server frames


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_frame_header(length: int, expected: bytes) -> None:
    assert frame_header(0x81, length) == expected


def test_close_frame() -> None:
    assert close_frame(1000) == b"\x88\x02\x03\xe8"
    assert close_frame(3501, "bad request") == b"\x88\x0d\x0d\xad" + b"bad request"


def test_close_frame_reason_is_cut_on_a_character_boundary() -> None:
    frame = close_frame(4000, "é" * 100)  # 200 bytes of UTF-8
    assert frame[1] <= 125
    payload = frame[2:]
    assert len(payload) == frame[1]
    code, reason = parse_close(payload)
    assert code == 4000
    assert reason == "é" * 61  # 122 bytes: the 62nd character would split at byte 123


def test_pong_frame() -> None:
    assert pong_frame(b"abc") == b"\x8a\x03abc"
    assert pong_frame(b"") == b"\x8a\x00"


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 1000, 1001])
def test_unmask_matches_bytewise_xor(size: int) -> None:
    payload = os.urandom(size)
    assert unmask(payload, MASK) == xor(payload, MASK)
    assert unmask(unmask(payload, MASK), MASK) == payload


def test_unmask_keeps_leading_and_trailing_zero_bytes() -> None:
    payload = xor(b"\x00\x00abc\x00\x00", MASK)
    assert unmask(payload, MASK) == b"\x00\x00abc\x00\x00"


# ------------------------------------------------------------ property


@st.composite
def message_streams(draw: st.DrawFn) -> tuple[bool, list[tuple[int, bytes]], list[bytes]]:
    """Messages, and the byte stream of them: random fragments, pings, chunking."""
    deflate = draw(st.booleans())
    messages = draw(
        st.lists(
            st.tuples(st.sampled_from([OP_TEXT, OP_BINARY]), st.binary(max_size=300)),
            max_size=8,
        )
    )
    compressor = new_compressor()
    stream = b""
    expected: list[tuple[int, bytes]] = []
    for opcode, message in messages:
        compress = deflate and draw(st.booleans())
        data = deflate_parts(compressor, message) if compress else message
        cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
        bounds = [0, *cuts, len(data)]
        parts = [data[a:b] for a, b in itertools.pairwise(bounds)]
        for i, part in enumerate(parts):
            mask = draw(st.binary(min_size=4, max_size=4))
            last = i == len(parts) - 1
            stream += client_frame(
                opcode if i == 0 else OP_CONTINUATION,
                part,
                fin=last,
                rsv=0x40 if compress and i == 0 else 0,
                mask=mask,
            )
            if not last and draw(st.booleans()):
                ping = draw(st.binary(max_size=125))
                stream += client_frame(OP_PING, ping)
                expected.append((OP_PING, ping))
        expected.append((opcode, message))
    chunk_cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    bounds = [0, *chunk_cuts, len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    return deflate, expected, chunks


@settings(max_examples=150, deadline=None)
@given(message_streams())
def test_any_stream_comes_back_exactly(
    case: tuple[bool, list[tuple[int, bytes]], list[bytes]],
) -> None:
    deflate, expected, chunks = case
    reader = FrameReader(1 << 20, deflate=deflate)
    events: list[tuple[int, bytes]] = []
    for chunk in chunks:
        events += reader.feed(chunk)
    assert events == expected


def test_messages_before_a_bad_frame_in_the_same_data_are_kept() -> None:
    """A reader going frame by frame would have handed these over before failing."""
    reader = FrameReader(1000)
    good = client_frame(OP_TEXT, b'{"id":1}')
    with pytest.raises(FrameError) as caught:
        reader.feed(good + client_frame(OP_TEXT, b"x" * 2000))
    assert caught.value.code == CLOSE_TOO_BIG
    assert caught.value.events == [(OP_TEXT, b'{"id":1}')]
