"""Fossil delta compression (client-protocol.md §15), sans-I/O.

The format is Fossil SCM's delta format (``fossil-scm.org`` ``www/delta_format.wiki``), the
one centrifuge-js ``src/fossil.ts`` and centrifuge-python ``centrifuge/fossil.py`` apply:

* integers are written in base 64, most significant digit first, with the digit alphabet
  ``0-9 A-Z _ a-z ~``;
* a delta starts with ``<target length>\\n``;
* then commands: ``<n>@<offset>,`` copies ``n`` bytes of the source from ``offset``,
  ``<n>:<n bytes>`` inserts ``n`` literal bytes;
* it ends with ``<checksum>;``, Fossil's 32-bit checksum of the target.

:func:`delta` follows the encoder of Fossil's ``delta.c``: the source is indexed by its 16-byte
blocks; the target is scanned one byte at a time for a 16-byte window found in the index,
the candidate blocks are extended backward and forward, and the longest match that is worth
its copy command wins (greedy); what lies between copies is inserted literally.

One rule of ours on top: copies start and end on UTF-8 character boundaries of the target,
so the literal runs of a delta of a UTF-8 target are UTF-8 themselves. A delta for a JSON
subscriber travels as a JSON *string* (§15), and the SDKs UTF-8-encode that string before
applying it; a literal cut inside a character would not survive the round trip.
"""

from __future__ import annotations

from typing import Final

_DIGITS: Final = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
_VALUES: Final = {digit: value for value, digit in enumerate(_DIGITS)}

NHASH: Final = 16
"""Bytes per hashed block (Fossil's ``NHASH``)."""

_MAX_CANDIDATES: Final = 250
"""Source blocks tried per target position (Fossil's collision chain limit)."""

_GALLOP: Final = 16


def checksum(data: bytes) -> int:
    """Fossil's 32-bit checksum: the sum of the big-endian 32-bit words of ``data``.

    A last partial word is padded with zero bytes on the right (``checksum()`` in
    ``delta.c``, byte for byte what the SDKs verify).
    """
    tail = len(data) % 4
    if tail:
        data = data + b"\0" * (4 - tail)
    total = (
        (sum(data[0::4]) << 24) + (sum(data[1::4]) << 16) + (sum(data[2::4]) << 8) + sum(data[3::4])
    )
    return total & 0xFFFFFFFF


def _put_int(value: int) -> bytes:
    if value == 0:
        return b"0"
    out = bytearray()
    while value:
        out.append(_DIGITS[value & 0x3F])
        value >>= 6
    out.reverse()
    return bytes(out)


def _digit_count(value: int) -> int:
    count = 1
    limit = 64
    while value >= limit:
        count += 1
        limit <<= 6
    return count


def _match_forward(source: bytes, x: int, target: bytes, y: int) -> int:
    """How many bytes ``source[x:]`` and ``target[y:]`` have in common at their start."""
    limit = min(len(source) - x, len(target) - y)
    if limit <= 0 or source[x] != target[y]:
        return 0
    # Gallop with slice comparisons (memcmp), then bisect the chunk that differs.
    low, step = 1, _GALLOP
    while low < limit:
        high = min(low + step, limit)
        if source[x + low : x + high] != target[y + low : y + high]:
            while high - low > 1:
                mid = (low + high) // 2
                if source[x + low : x + mid] == target[y + low : y + mid]:
                    low = mid
                else:
                    high = mid
            return low
        low = high
        step <<= 1
    return limit


def _match_backward(source: bytes, x: int, target: bytes, y: int, limit: int) -> int:
    """How many bytes before ``source[x]`` and ``target[y]`` are equal (at most ``limit``)."""
    if limit <= 0 or source[x - 1] != target[y - 1]:
        return 0
    low, step = 1, _GALLOP
    while low < limit:
        high = min(low + step, limit)
        if source[x - high : x - low] != target[y - high : y - low]:
            while high - low > 1:
                mid = (low + high) // 2
                if source[x - mid : x - low] == target[y - mid : y - low]:
                    low = mid
                else:
                    high = mid
            return low
        low = high
        step <<= 1
    return limit


def delta(source: bytes, target: bytes) -> bytes:
    """The Fossil delta that turns ``source`` into ``target``.

    Never fails; when nothing of ``source`` is worth copying the delta holds ``target`` as
    one literal (so it is then a little longer than ``target``).
    """
    len_src = len(source)
    len_tgt = len(target)
    out = [_put_int(len_tgt), b"\n"]
    if len_src <= NHASH:
        out += (_put_int(len_tgt), b":", target, _put_int(checksum(target)), b";")
        return b"".join(out)

    # Index the source by its 16-byte blocks: index[block bytes] is the last block holding
    # them, collide[] chains the earlier ones. (delta.c keys a table by a rolling hash of
    # the window; in CPython, slicing the window and hashing the slice is faster than
    # rolling the hash byte by byte, and it finds exact candidates only.)
    n_blocks = len_src // NHASH
    keys = [source[start : start + NHASH] for start in range(0, n_blocks * NHASH, NHASH)]
    index = dict(zip(keys, range(n_blocks), strict=True))  # the last block of each key
    collide = [-1] * n_blocks
    if len(index) < n_blocks:
        # Repeated blocks: chain each one to the previous block with the same bytes.
        last: dict[bytes, int] = {}
        for block, key in enumerate(keys):
            collide[block] = last.get(key, -1)
            last[key] = block

    base = 0
    while base + NHASH < len_tgt:
        i = 0
        best_cnt = best_ofst = best_lit = 0
        while True:
            y = base + i
            block = index.get(target[y : y + NHASH], -1)
            tries = _MAX_CANDIDATES
            while block >= 0 and tries > 0:
                tries -= 1
                src_at = block * NHASH
                forward = _match_forward(source, src_at, target, y)
                # delta.c extends backward while k < iSrc and k <= i.
                back = _match_backward(source, src_at, target, y, min(src_at - 1, i))
                t_start = y - back
                t_end = y + forward
                s_start = src_at - back
                # Our rule: copies start and end on UTF-8 character boundaries.
                while t_start < t_end and target[t_start] & 0xC0 == 0x80:
                    t_start += 1
                    s_start += 1
                while t_start < t_end < len_tgt and target[t_end] & 0xC0 == 0x80:
                    t_end -= 1
                cnt = t_end - t_start
                lit = t_start - base
                cost = _digit_count(lit) + _digit_count(cnt) + _digit_count(s_start) + 3
                if cnt >= cost and cnt > best_cnt:
                    best_cnt, best_ofst, best_lit = cnt, s_start, lit
                block = collide[block]
            if best_cnt > 0:
                if best_lit > 0:
                    out += (_put_int(best_lit), b":", target[base : base + best_lit])
                    base += best_lit
                out += (_put_int(best_cnt), b"@", _put_int(best_ofst), b",")
                base += best_cnt
                break
            if y + NHASH >= len_tgt:
                # No match anywhere up to the end: the rest is one literal.
                out += (_put_int(len_tgt - base), b":", target[base:])
                base = len_tgt
                break
            i += 1
    if base < len_tgt:
        out += (_put_int(len_tgt - base), b":", target[base:])
    out += (_put_int(checksum(target)), b";")
    return b"".join(out)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def get_int(self) -> int:
        data = self.data
        value = 0
        start = self.pos
        while self.pos < len(data):
            digit = _VALUES.get(data[self.pos])
            if digit is None:
                break
            value = (value << 6) + digit
            self.pos += 1
        if self.pos == start:
            raise ValueError("delta: integer expected")
        return value

    def get_char(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("delta: unexpected end")
        char = self.data[self.pos]
        self.pos += 1
        return char


def apply(source: bytes, delta: bytes) -> bytes:
    """Apply a Fossil ``delta`` to ``source`` and return the target (``delta_apply``).

    Raises:
        ValueError: the delta is malformed, copies outside ``source``, or its size or
            checksum does not match what it produces.
    """
    reader = _Reader(delta)
    limit = reader.get_int()
    if reader.get_char() != ord("\n"):
        raise ValueError("delta: size integer not terminated by newline")
    out = bytearray()
    while reader.pos < len(delta):
        count = reader.get_int()
        op = reader.get_char()
        if op == ord("@"):
            offset = reader.get_int()
            if reader.get_char() != ord(","):
                raise ValueError("delta: copy command not terminated by ','")
            if len(out) + count > limit:
                raise ValueError("delta: copy exceeds output size")
            if offset + count > len(source):
                raise ValueError("delta: copy extends past end of source")
            out += source[offset : offset + count]
        elif op == ord(":"):
            if len(out) + count > limit:
                raise ValueError("delta: insert exceeds output size")
            if reader.pos + count > len(delta):
                raise ValueError("delta: insert count exceeds size of delta")
            out += delta[reader.pos : reader.pos + count]
            reader.pos += count
        elif op == ord(";"):
            if count != checksum(bytes(out)):
                raise ValueError("delta: bad checksum")
            if len(out) != limit:
                raise ValueError("delta: generated size does not match predicted size")
            return bytes(out)
        else:
            raise ValueError("delta: unknown operator")
    raise ValueError("delta: unterminated delta")
