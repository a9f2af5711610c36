"""poold._wire: what poold's JSON carries, for the client's calls and the
runtime's answers alike: integers within 64 bits (jansson's), and strings
without NUL (a jansson string holds none) or half a surrogate pair (UTF-8
holds none). json.dumps writes all three; poold refuses them as not JSON.
"""
import itertools
import re

INT64 = range(-(1 << 63), 1 << 63)  # jansson's json_int_t
# Every ASCII digit becomes "0" and every other byte a space, so that a
# run of 19 digits (2**63 has 19) is a plain substring search: a regex's
# \d walk cost ten times the encoding of a chunk's answer.
DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
DIGIT_RUN = b"0" * 19


def long_digits(text):
    """Whether JSON text (ASCII, as json.dumps writes it) holds a run of 19
    digits: the only text where an int past 64 bits can hide. Not that it
    does: 2**63 - 1, a nanosecond clock and a str of digits have as many
    (wide_int or ints_fit says)."""
    return DIGIT_RUN in text.encode().translate(DIGITS_AS_ZERO)


def ints_fit(items):
    """Whether a non-empty list of plain ints all fit in 64 bits (min and
    max run in C: a million take 0.02 s, a walk of them 0.1 s)."""
    return INT64.start <= min(items) and max(items) < INT64.stop


# The escapes of JSON text poold refuses: a surrogate's that is not half of
# a pair ("lone"), and NUL's. The scan takes each escaped backslash whole
# first, and each pair whole, so that a str holding a backslash and
# "ud800" as text (json.dumps's own output does) is not read as one.
UNCARRIED = re.compile(r"\\\\|\\ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}|(?P<lone>\\ud[89a-f][0-9a-f]{2})|(?P<nul>\\u0000)")


def uncarried(text):
    """Which escape of JSON text (as json.dumps writes it) poold refuses:
    "lone", "nul", or None."""
    if "\\ud" not in text and "\\u0000" not in text:
        return None
    for found in UNCARRIED.finditer(text):
        if found.lastgroup:
            return found.lastgroup
    return None


def fault(value, text):
    """What poold refuses in value, whose JSON text (as json.dumps writes
    it) is text: "wide" (an int past 64 bits), "lone", "nul", or None.
    Only a text with a run of 19 digits can hold a wide int: the walk is
    for those."""
    if len(text) >= 19 and long_digits(text) and wide_int(value) is not None:
        return "wide"
    return uncarried(text)


def _walk(value, bad):
    """The first int or str in value (in lists, tuples, dicts' values and
    str keys: json.dumps writes other keys as str) for which bad() is
    true, or None."""
    if isinstance(value, (int, str)):
        return value if bad(value) else None
    if isinstance(value, dict):
        items = itertools.chain(value.values(), (key for key in value if isinstance(key, str)))
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return None
    for item in items:
        if (found := _walk(item, bad)) is not None:
            return found
    return None


def wide_int(value):
    """An int in value past 64 bits, or None (bool is not counted)."""
    if type(value) is list and value and set(map(type, value)) == {int}:
        # A list of plain ints (a map's items or results, in 19 digits
        # each: a nanosecond clock) is looked at in C, not walked.
        return None if ints_fit(value) else next(filter(_wide, value))
    return _walk(value, _wide)


def _wide(v):
    # Compared, not `v in INT64`: range's `in` walks the range for an int
    # of another class (an IntEnum), 2**64 steps with the GIL held.
    return isinstance(v, int) and not isinstance(v, bool) and not INT64.start <= v < INT64.stop


def lone_surrogate(value):
    """A str in value that UTF-8 cannot carry (half a surrogate pair), or
    None."""
    return _walk(value, lambda v: isinstance(v, str) and not v.isascii() and not _utf8(v))


def _utf8(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
