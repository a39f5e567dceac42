"""Does this JSON hold an integer past 64 bits? A fast scan that answers "surely not" for nearly all JSON.

Stores keep 64-bit integers and Python's are unbounded, so both the gateway (request bodies) and the
store (documents, `shared/store/query.py`) refuse an integer beyond that range. Walking every decoded
value to look for one costs a Python call per value; this scan of the encoded bytes lets the usual
body or document skip the walk. One definition, here, because the gateway has no business importing
the store package.

The JSON reduced to its number shapes: digits → "0", "." kept, every other byte → " ". An integer token
beyond 64 bits (|n| ≥ 2^63 has 19 digits or more) then shows as " " + 19 "0"s: JSON puts an integer
after one of `[ , : -` or whitespace (all → " "), or it is the whole text, while a float's fraction
follows "." (0.0053287231876311125 is not an integer) and an exponent of 19 digits is a false alarm at
worst. Digits inside strings may match too ("id-1234…"): that only sends the value to the exact walk,
which finds no int. Two C passes (translate, then a substring search), linear in the JSON's length,
where a `\\d{19,}` regex was ~70 MB/s and was set off by every float with a long fraction.
"""

from __future__ import annotations

_SHAPES = bytes(48 if 48 <= b <= 57 else 46 if b == 46 else 32 for b in range(256))
_DIGITS_19 = b"0" * 19  # |n| ≥ 2^63 needs 19 digits
_LONG_INTEGER = b" " + _DIGITS_19


def may_hold_long_int(encoded: bytes) -> bool:
    """False when this JSON surely holds no integer token of 19+ digits; True may be a false alarm
    (digits in a string, a long exponent), never a miss."""
    shapes = encoded.translate(_SHAPES)
    return _LONG_INTEGER in shapes or shapes.startswith(_DIGITS_19)
