"""The Python functions tests/http/http_runtime*.c serve with
`poold --python tests/runtime/fns.py`: each public top-level function here
is a poold function, its docstring its doc. Some misbehave on purpose
(raise, return what JSON cannot carry, print, hang, die).
"""
import multiprocessing
import os
import signal
import subprocess
import sys
import time

# Module state: lives across the calls one runtime process serves.
_count = 0
_inits = []


class Oops(Exception):
    """A user's own exception class: its name is the error's type."""


def echo(*args):
    """echo(*args): its one argument back, or the list of them."""
    return args[0] if len(args) == 1 else list(args)


def calc(value):
    """calc(value): value ** 10, at once (hides the built-in calc)."""
    return value ** 10


def add(a, b):
    """add(a, b): a + b."""
    return a + b


def scale(x, k=2):
    """scale(x, k=2): x * k; k by keyword."""
    return x * k


def raise_value(msg):
    """raise_value(msg): raises ValueError(msg)."""
    raise ValueError(msg)


def raise_key(key):
    """raise_key(key): looks key up in an empty dict (KeyError)."""
    return {}[key]


def divide(a, b):
    """divide(a, b): a / b (ZeroDivisionError when b is 0)."""
    return a / b


def raise_oops(msg):
    """raise_oops(msg): raises the user's own Oops(msg)."""
    _deeper(msg)


def _deeper(msg):
    raise Oops(msg)


def aset():
    """aset(): a set, which JSON cannot carry."""
    return {1, 2, 3}


def nan():
    """nan(): float('nan'), which JSON cannot carry."""
    return float("nan")


def noisy(n):
    """noisy(n): prints n lines, returns n."""
    for i in range(n):
        print(f"noisy line {i + 1} of {n}", flush=(i == n - 1))
    return n


def count():
    """count(): how many times this process has run count()."""
    global _count
    _count += 1
    return _count


def setup(tag, path=None):
    """setup(tag, path=None): the initializer; remembers tag, and appends
    "tag pid" to the file path when given."""
    _inits.append(tag)
    if path:
        with open(path, "a") as f:
            f.write(f"{tag} {os.getpid()}\n")


def inits():
    """inits(): [the tags setup() has had in this process, its pid]."""
    return [list(_inits), os.getpid()]


def bad():
    """bad(): an initializer that raises RuntimeError."""
    raise RuntimeError("bad initializer: cannot set up")


def name():
    """name(): multiprocessing.current_process().name."""
    return multiprocessing.current_process().name


def pid():
    """pid(): the runtime's pid."""
    return os.getpid()


def placed(wait):
    """placed(wait): after wait seconds, [the worker's pid, the CPUs this
    runtime may run on]."""
    time.sleep(wait)
    return [os.getppid(), sorted(os.sched_getaffinity(0))]


def sleepy(s):
    """sleepy(s): sleeps s seconds, returns s."""
    time.sleep(s)
    return s


def spin():
    """spin(): a C loop that ignores SIGTERM and takes hours."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return sum(range(10 ** 12))


def with_child(path, s):
    """with_child(path, s): starts `sleep 300`, writes its pid to path,
    then sleeps s seconds."""
    child = subprocess.Popen(["sleep", "300"])
    with open(path, "w") as f:
        f.write(f"{child.pid}\n")
    time.sleep(s)
    return child.pid


def ask():
    """ask(): input(), from a stdin that is not the requests'."""
    return input()


def rawout():
    """rawout(): writes on fd 1 and sys.__stdout__, past print()."""
    os.write(1, b"raw line on fd 1\n")
    sys.__stdout__.write("a line on sys.__stdout__\n")
    sys.__stdout__.flush()
    return "ok"


def hog(mb):
    """hog(mb): allocates mb MiB; returns its size."""
    return len(bytearray(mb << 20))


def big(n):
    """big(n): a string of n x's."""
    return "x" * n


def die(code):
    """die(code): os._exit(code), mid-task."""
    os._exit(code)


def kill9():
    """kill9(): the runtime kills itself with SIGKILL."""
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    # A served file's main block never runs (it is loaded as __mp_main__);
    # if it did, the marker says so and the runtime fails loudly.
    marker = os.environ.get("FNS_MAIN_MARKER")
    if marker:
        with open(marker, "w") as f:
            f.write(f"main ran in {os.getpid()}\n")
    raise SystemExit(99)


def orphan_die():
    """orphan_die(): starts `sleep 300` (which keeps the runtime's stderr
    open), then kills its own runtime with SIGKILL."""
    subprocess.Popen(["sleep", "300"])
    os.kill(os.getpid(), signal.SIGKILL)


def surrogate():
    """surrogate(): a str with a lone surrogate, as surrogateescape makes."""
    return b"caf\xff".decode("utf-8", "surrogateescape")
