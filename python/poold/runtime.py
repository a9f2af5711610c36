"""poold.runtime: the warm Python runtime a poold worker starts once.

    python3 -m poold.runtime [--initializer NAME] [--initargs JSON] FILE.py

Loads FILE.py as multiprocessing loads a program's main module in a child
(under the name "__mp_main__", so its ``if __name__ == "__main__":`` block
does not run), runs the initializer once, says it is ready with the public
top-level functions it serves, then answers one request after another on
its stdin and stdout, as docs/worker-protocol.md says. With POOLD_DESCRIBE=1
in its environment it says ready (without running the initializer) and
exits: poold's look at the file at start-up.

stdout carries frames only: what the program prints goes to stderr, which
poold logs line by line under the worker's name; stdin is the requests'
alone (the program reads /dev/null).
"""
import importlib.util
import inspect
import itertools
import json
import multiprocessing
import os
import sys
import traceback

from poold._wire import fault, lone_surrogate, wide_int

PROTOCOL = 1

# Made once: json.dumps and json.loads with arguments build an encoder or
# check an encoding on every call, a third of a small request's cost.
ENCODE = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
DECODE = json.JSONDecoder().decode


class Channel:
    """The frames' two pipes, taken from fds 0 and 1 before user code runs."""

    def __init__(self):
        self.rfd = os.dup(0)
        self.wfd = os.dup(1)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)  # print() reaches the log, never the frames
        sys.stdout = sys.stderr
        self.reader = os.fdopen(self.rfd, "rb", buffering=1 << 16)

    def read(self):
        line = self.reader.readline()
        return DECODE(line.decode()) if line else None

    def write(self, text):
        data = (text + "\n").encode()
        sent = os.write(self.wfd, data)
        if sent < len(data):  # a frame past the pipe's room goes in parts
            view = memoryview(data)[sent:]
            while view:
                view = view[os.write(self.wfd, view):]


def error_of(exc, frames_of_ours=0):
    """The error object of an exception: its class, its text, and its
    traceback less the runtime's own frames (the first frames_of_ours)."""
    tb = exc.__traceback__
    for _ in range(frames_of_ours):
        tb = tb.tb_next if tb is not None else None
    # Raised in our frame itself (a call with the wrong arguments): no
    # frame of the program's to show, only the exception.
    lines = traceback.format_exception(type(exc), exc, tb) if tb is not None or not frames_of_ours \
        else traceback.format_exception_only(type(exc), exc)
    return {"type": type(exc).__name__, "message": unicode(str(exc)), "traceback": unicode("".join(lines))}


def unicode(text):
    """text as UTF-8 can carry it: a lone surrogate (a file name read with
    surrogateescape) shown as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def load(path):
    path = os.path.abspath(path)
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location("__mp_main__", path)
    if spec is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    # As multiprocessing's spawn does: the program is __main__ to its code.
    sys.modules["__mp_main__"] = sys.modules["__main__"] = module
    spec.loader.exec_module(module)
    return module


def served(module):
    """The public functions FILE.py itself defines, by name: a decorated
    one too (functools.cache keeps its __module__), never a class."""
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and callable(value)
        and not isinstance(value, type)
        and getattr(value, "__module__", None) == module.__name__
    }


def refused(type_, message):
    return ENCODE({"e": {"type": type_, "message": message, "traceback": ""}})


def encoded(fn, value):
    """One item's outcome as JSON text: {"r": value}, or an error when
    JSON (or poold's, for an int past 64 bits) cannot carry the value."""
    try:
        text = ENCODE(value)
    except (TypeError, ValueError, RecursionError) as exc:
        return refused("TypeError", f"{fn.__name__}() returned a {type(value).__name__}, "
                       f"which JSON cannot carry: {exc}")
    bad = fault(value, text)
    if bad == "wide":
        return refused("OverflowError", f"{fn.__name__}() returned an integer that does not fit in "
                       f"64 bits ({wide_int(value)}): return it as a str or a float")
    if bad == "lone":
        # UTF-8's own words, which the client makes a UnicodeEncodeError of
        # again: the codec, the character, its place in the str.
        try:
            (lone_surrogate(value) or "\ud800").encode("utf-8")
        except UnicodeEncodeError as exc:
            return refused("UnicodeEncodeError", f"{exc} ({fn.__name__}() returned it, which UTF-8 cannot "
                           "carry: text decoded with surrogateescape?)")
    if bad == "nul":
        return refused("ValueError", f"{fn.__name__}() returned a str with a NUL character ('\\x00'), "
                       "which poold's JSON cannot carry: return it as bytes' hex or escaped")
    return '{"r":' + text + "}"


def progressed(items, started):
    """items, calling started(k) before handing out item k > 0."""
    for k, item in enumerate(items):
        if k:
            started(k)
        yield item


def run(fn, req, started):
    """Calls fn on each item of a request: the values (None where it
    raised), and the error objects by index. started(k) is called before
    item k > 0 when the request asks for progress."""
    values, errors = [], {}
    if "map" in req or "starmap" in req:
        star = "starmap" in req
        items = iter(req["starmap"] if star else req["map"])
        if started:
            items = progressed(items, started)
        # extend() keeps what it appended before an item raised, and the
        # iterator goes on after that item: the loop runs in C between errors.
        while True:
            try:
                values.extend(itertools.starmap(fn, items) if star else map(fn, items))
                break
            except Exception as exc:  # SystemExit and KeyboardInterrupt end the runtime
                errors[len(values)] = error_of(exc, 1)
                values.append(None)
    else:
        try:
            values.append(fn(*(req.get("args") or ()), **(req.get("kwds") or {})))
        except Exception as exc:
            errors[0] = error_of(exc, 1)
            values.append(None)
    return values, errors


def carried(fn, values):
    """values as one JSON array, when JSON (and poold's) carries each whole;
    else None."""
    try:
        text = ENCODE(values)
    except (TypeError, ValueError, RecursionError):
        return None
    return text if fault(values, text) is None else None


def answer(fn, rid, values, errors):
    """The answer frame: the bare values when every item succeeded and
    carries (one encoding for the whole chunk), else an outcome an item."""
    if not errors and (text := carried(fn, values)) is not None:
        return '{"id":%d,"values":%s}' % (rid, text)
    parts = [ENCODE({"e": errors[k]}) if k in errors else encoded(fn, v)
             for k, v in enumerate(values)]
    return '{"id":%d,"results":[%s]}' % (rid, ",".join(parts))


def serve(chan, functions):
    while (req := chan.read()) is not None:
        rid = req["id"]
        fn = functions.get(req.get("func"))
        if fn is None:
            n = len(req.get("map") or req.get("starmap") or [None])
            err = refused("NameError", f"no function {req.get('func')!r} here")
            chan.write('{"id":%d,"results":[%s]}' % (rid, ",".join([err] * n)))
            continue
        started = (lambda k: chan.write('{"id":%d,"started":%d}' % (rid, k))) if req.get("progress") else None
        values, errors = run(fn, req, started)
        chan.write(answer(fn, rid, values, errors))


def options(argv):
    # initargs come by the environment (poold's way: argv is public), or
    # by --initargs; not left for the program to read.
    initargs = os.environ.pop("POOLD_INITARGS", None)
    opts = {"describe": os.environ.get("POOLD_DESCRIBE") == "1", "initializer": None,
            "initargs": json.loads(initargs) if initargs else [], "file": None}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--initializer", "--initargs") and i + 1 < len(argv):
            i += 1
            opts[a[2:]] = argv[i] if a == "--initializer" else json.loads(argv[i])
        elif opts["file"] is None and not a.startswith("--"):
            opts["file"] = a
        else:
            raise SystemExit(f"poold.runtime: unexpected argument {a!r}")
        i += 1
    if not opts["file"]:
        raise SystemExit("poold.runtime: which file? (python3 -m poold.runtime FILE.py)")
    return opts


def main(argv):
    chan = Channel()
    opts = options(argv)
    name = os.environ.get("POOLD_WORKER_NAME")
    if name:
        multiprocessing.current_process().name = name
    try:
        module = load(opts["file"])
        functions = served(module)
        init = opts["initializer"]
        if init is not None:
            if not callable(getattr(module, init, None)):
                raise NameError(f"the initializer {init!r} is not a function of {opts['file']}")
            if not opts["describe"]:
                getattr(module, init)(*opts["initargs"])
    except BaseException as exc:  # an import error, a SystemExit at load: all fatal
        chan.write(json.dumps({"fatal": error_of(exc)}))
        traceback.print_exception(exc)
        return 1
    chan.write(json.dumps({"ready": {
        "protocol": PROTOCOL,
        "pid": os.getpid(),
        "functions": [{"name": n, "doc": inspect.getdoc(f) or ""} for n, f in functions.items()],
    }}))
    if opts["describe"]:
        # Gone at once: a thread the module started at import (not a
        # daemon) would otherwise hold the process past its answer.
        sys.stderr.flush()
        os._exit(0)
    serve(chan, functions)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
