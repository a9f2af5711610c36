"""poold: Python's multiprocessing.Pool as an HTTP service.

The client: `from poold import Pool, current_process` in place of
`from multiprocessing import Pool, current_process`, and a Pool program
runs its calls on a poold server (poold.pool says how). The package also
holds the warm Python runtime a poold worker starts (poold.runtime,
docs/worker-protocol.md); a file served with `poold --python FILE.py` may
import poold, being the same program as its client.

current_process and TimeoutError are multiprocessing's own: inside a warm
runtime, current_process().name is the worker's (ForkPoolWorker-1, ...).
The client's names load on first use, so that the runtime, which imports
this package too, starts no slower for them.
"""
import importlib
from multiprocessing import TimeoutError, current_process

_LAZY = {
    "Pool": "pool",
    "RemoteError": "errors", "WorkerLost": "errors", "TaskTimeout": "errors",
    "PoolUnavailable": "errors", "FunctionNotFound": "errors", "Unauthorized": "errors",
    "BadRequest": "errors", "Cancelled": "errors", "ConnectionLost": "errors",
    "ApplyResult": "results", "AsyncResult": "results", "MapResult": "results",
    "IMapIterator": "results", "IMapUnorderedIterator": "results",
}

__all__ = ["Pool", "current_process", "TimeoutError", *[n for n in _LAZY if n != "Pool"]]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'poold' has no attribute %r" % name)
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
