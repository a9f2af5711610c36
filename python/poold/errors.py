"""poold.errors: what a poold call raises in the caller.

A function's own exception comes back as the same class when its type is a
built-in exception (ValueError, KeyError, ZeroDivisionError, ...), else as a
RemoteError subclass named after the remote type (a program's own Oops
becomes a class Oops(RemoteError)); either way the remote traceback is its
__cause__, a multiprocessing.pool.RemoteTraceback, as multiprocessing
attaches it. What poold itself reports has a class of its own, each a
RemoteError:

    WorkerLost        502  the worker died while it ran the task
    TaskTimeout       504  the task ran past its timeout (--task-timeout)
    PoolUnavailable   503  queue full, crash loop, stopping: still so after
                           the retries Retry-After asked for
    FunctionNotFound  404  no function of that name on the server
    Unauthorized      401  a missing or wrong API key
    BadRequest        400, 413  poold refused the request itself
    Cancelled         410  the job was cancelled (terminate())
    ConnectionLost         no answer: refused, reset, the server killed,
                           or silent and failing its health check
"""
import ast
import builtins
import re
import threading
from multiprocessing.pool import RemoteTraceback


class RemoteError(Exception):
    """An error poold reported. `type` is the remote type's name,
    `message` its text, `status` the HTTP status, `traceback` the remote
    traceback ("" when there is none), `index` the item of a map that
    failed (or None), `func` the function's name."""

    type = "RemoteError"
    status = None
    traceback = ""
    index = None
    func = None

    def __init__(self, message="", **fields):
        super().__init__(message)
        self.message = message
        for name, value in fields.items():
            setattr(self, name, value)


class WorkerLost(RemoteError):
    """502: the worker running the task died (a crash, os._exit, a kill,
    a limit); poold replaced it. Pool would hang here."""


class TaskTimeout(RemoteError):
    """504: the task ran past its timeout; poold stopped and replaced its
    worker. Not multiprocessing.TimeoutError, which get(timeout) raises."""


class PoolUnavailable(RemoteError):
    """503 after the retries: the queue stayed full, the workers crash at
    start-up, or poold is stopping. `retry_after` is the server's last
    Retry-After, in seconds."""

    retry_after = None


class FunctionNotFound(RemoteError, LookupError):
    """404: the server serves no function of that name."""


class Unauthorized(RemoteError, PermissionError):
    """401: the API key (api_key=, POOLD_API_KEY) is missing or wrong."""


class BadRequest(RemoteError, ValueError):
    """400 or 413: poold refused the request (an argument JSON cannot
    carry faithfully, an int past 64 bits, a body over --max-body)."""


class Cancelled(RemoteError):
    """410: the job was cancelled, by terminate() or by another client."""


class ConnectionLost(RemoteError, ConnectionError):
    """No answer from poold: the connection was refused or reset, the
    server was killed mid-call, or it stopped answering and failed its
    health check (GET /healthz) too."""


# A remote type of a program's own, by name: one class each, made once.
_remote_types = {}
_remote_types_lock = threading.Lock()


def remote_class(name):
    """The RemoteError subclass named after a remote type."""
    with _remote_types_lock:
        cls = _remote_types.get(name)
        if cls is None:
            safe = name if name.isidentifier() else "RemoteError"
            cls = type(safe, (RemoteError,), {"__module__": __name__, "type": name})
            _remote_types[name] = cls
        return cls


_ERRNO = re.compile(r"""\[Errno (-?\d+)\] (.*?)(?:: ('.*?'|".*?")(?: -> ('.*'|".*"))?)?""", re.S)
_CODEC = re.compile(r"'(.+)' codec can't (decode|encode) (?:bytes?|characters?) (?:(0x[0-9a-f]{2}|'.+') )?"
                    r"in position (\d+)(?:-(\d+))?: (.*)", re.S)


def _literal(text, default=None):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return default


def _os_error(cls, message):
    """An OSError subclass with the errno, strerror and filenames its
    message carries ("[Errno 2] No such file or directory: 'x'")."""
    found = _ERRNO.fullmatch(message)
    if found is None:
        return cls(message)
    args = [int(found.group(1)), found.group(2)]
    first, second = found.group(3, 4)
    if first is not None:
        args.append(_literal(first, first))
    if second is not None:
        args += [None, _literal(second, second)]  # None: OSError's winerror, before filename2
    return cls(*args)


def _codec_error(cls, message):
    """A UnicodeDecodeError or UnicodeEncodeError remade from its message:
    the same codec, positions and reason (the object stands in for the
    data, which the message does not carry)."""
    found = _CODEC.fullmatch(message)
    want = "decode" if cls is UnicodeDecodeError else "encode"
    if found is None or found.group(2) != want:
        return None
    start = int(found.group(4))
    end = int(found.group(5)) + 1 if found.group(5) else start + 1
    what = found.group(3)
    if cls is UnicodeDecodeError:
        data = bytes(end) if what is None else bytes(start) + bytes([int(what, 16)])
    else:
        char = _literal(what, "?") if what is not None else "?"
        data = "?" * start + (char if isinstance(char, str) and len(char) == 1 else "?") * (end - start)
    try:
        return cls(found.group(1), data, start, end, found.group(6))
    except Exception:
        return None


def _builtin_exception(name, message):
    """The built-in exception of that name, with the remote's message; None
    when there is none. A class whose constructor wants more than a message
    (UnicodeDecodeError's five) is made without it, its args the message,
    so that `except ValueError` still catches it."""
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        return None
    arg = message
    if cls is KeyError:
        # str(KeyError('k')) is "'k'": the key, as repr wrote it.
        arg = _literal(message, message)
    exc = None
    if issubclass(cls, OSError):
        exc = _os_error(cls, message)
    elif cls in (UnicodeDecodeError, UnicodeEncodeError):
        exc = _codec_error(cls, message)
    if exc is not None:
        return exc
    try:
        return cls(arg)
    except Exception:
        exc = cls.__new__(cls)
        exc.args = (message,)
        return exc


def function_error(err, func=None, index=None):
    """The exception a function's error object ({type, message, traceback})
    stands for, its remote traceback attached as the cause."""
    name = str(err.get("type") or "RemoteError")
    message = str(err.get("message") or "")
    tb = str(err.get("traceback") or "")
    exc = _builtin_exception(name, message)
    if exc is None:
        exc = remote_class(name)(message, status=err.get("status", 422), traceback=tb)
    exc.func = func
    exc.index = index
    if tb:
        exc.__cause__ = RemoteTraceback(tb)
    return exc


_BY_STATUS = {
    401: Unauthorized,
    408: ConnectionLost,
    410: Cancelled,
    413: BadRequest,
    502: WorkerLost,
    503: PoolUnavailable,
    504: TaskTimeout,
}


def error_of(status, err, func=None, index=None, detail=None):
    """The exception for an outcome: the HTTP status and the error object of
    a problem, a job or a stream's line."""
    err = err if isinstance(err, dict) else {}
    status = err.get("status", status)
    if status == 422 and err:
        return function_error(err, func, index)
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = BadRequest if status == 400 else RemoteError
    message = err.get("message") or detail or "poold answered %s" % status
    return cls(message, type=err.get("type", cls.__name__), status=status, func=func,
               index=index, traceback=err.get("traceback", ""))


def problem_error(status, problem, func=None, headers=None):
    """The exception for a problem+json answer (RFC 9457, poold's members)."""
    if not isinstance(problem, dict):
        problem = {}
    detail = problem.get("detail") or problem.get("title") or "poold answered %s" % status
    if status == 404:
        cls = FunctionNotFound if problem.get("field") == "func" or "function" in detail else RemoteError
        return cls(detail, type="NotFound", status=404, func=func)
    exc = error_of(status, problem.get("error"), problem.get("func", func), problem.get("index"), detail)
    if isinstance(exc, PoolUnavailable) and headers is not None:
        exc.retry_after = headers.get("retry-after")
    if isinstance(exc, RemoteError) and not problem.get("error"):
        exc.message = detail
        exc.args = (detail,)
    exc.field = problem.get("field")
    return exc
