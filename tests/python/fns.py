"""The Python functions the client's tests call, served by a real poold
with `poold --python tests/python/fns.py`. Like any served file it may
import poold, the client's own package (the runtime puts it on the path).
"""
import os
import time
from http import HTTPStatus

from poold import current_process


class Oops(Exception):
    """A program's own exception: the caller gets a RemoteError named Oops."""


def sqr(x, wait=0.0):
    """sqr(x, wait=0.0): x * x, after wait seconds."""
    time.sleep(wait)
    return x * x


def mul(x, y):
    """mul(x, y): x * y."""
    return x * y


def identity(x):
    """identity(x): x."""
    return x


def add(a, b=0):
    """add(a, b=0): a + b; b by keyword too."""
    return a + b


def to_int(text):
    """to_int(text): int(text) (ValueError when it is no number)."""
    return int(text)


def raising():
    """raising(): raises KeyError('key')."""
    raise KeyError("key")


def raise_runtime():
    """raise_runtime(): raises RuntimeError(123)."""
    raise RuntimeError(123)  # some comment


def raise_large_valuerror(wait):
    """raise_large_valuerror(wait): after wait s, a ValueError of 1 MiB."""
    time.sleep(wait)
    raise ValueError("x" * 1024 ** 2)


def raise_oops(msg):
    """raise_oops(msg): raises the program's own Oops(msg)."""
    raise Oops(msg)


def divide(a, b):
    """divide(a, b): a / b."""
    return a / b


def a_set():
    """a_set(): a set, which JSON cannot carry."""
    return {1, 2}


def nap(seconds):
    """nap(seconds): sleeps, returns seconds."""
    time.sleep(seconds)
    return seconds


def whoami():
    """whoami(): [current_process().name, pid]."""
    return [current_process().name, os.getpid()]


def die(status):
    """die(status): the runtime exits mid-task (poold answers 502)."""
    os._exit(status)


def strlen(text):
    """strlen(text): len(text)."""
    return len(text)


def bad_utf8():
    """bad_utf8(): decodes b"\\xff" as UTF-8 (UnicodeDecodeError)."""
    return b"\xff".decode()


def open_missing(path):
    """open_missing(path): open(path), for a path that is not there."""
    with open(path):
        return None


def text_of(codes):
    """text_of(codes): the str of those code points (ValueError for one out
    of range)."""
    return "".join(map(chr, codes))


def status_and(text):
    """status_and(text): [HTTPStatus.OK, text]: an IntEnum beside text."""
    return [HTTPStatus.OK, text]
