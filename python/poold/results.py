"""poold.results: what the async calls and the imaps return, with the
API and behaviour of multiprocessing.pool's ApplyResult (AsyncResult),
MapResult, IMapIterator and IMapUnorderedIterator.
"""
import collections
import sys
import threading
import time
import traceback
from multiprocessing import TimeoutError

from . import _http, errors


class ApplyResult:
    """An apply_async's result. Its callback (or error_callback) runs in
    the pool's one result thread before get() and wait() return, as in
    Pool."""

    def __init__(self, func=None, callback=None, error_callback=None):
        self._event = threading.Event()
        self._claim = threading.Lock()
        self._func = func
        self._callback = callback
        self._error_callback = error_callback
        self._success = None
        self._value = None
        self._job = None  # the id of its job on the server, once submitted
        self._decided = False  # an outcome was found (poold._jobs)
        self._whole = None  # the call run synchronously, if poold refuses its job as too large

    def ready(self):
        return self._event.is_set()

    def successful(self):
        if not self.ready():
            raise ValueError("{0!r} not ready".format(self))
        return self._success

    def wait(self, timeout=None):
        self._event.wait(timeout)

    def get(self, timeout=None):
        self.wait(timeout)
        if not self.ready():
            raise TimeoutError
        if self._success:
            return self._value
        raise self._value

    def _set(self, success, value, callbacks=True):
        """Sets the outcome once (False if it was set already), then runs
        the callback that fits, then wakes get()."""
        if not self._claim.acquire(blocking=False):
            return False
        self._success, self._value = success, value
        callback = self._callback if success else self._error_callback
        self._callback = self._error_callback = None
        if callbacks and callback is not None:
            try:
                callback(value)
            except Exception:
                # Pool's result thread would die of it, and the pool hang;
                # here it is shown, as an uncaught exception in a thread is.
                print("poold: exception in %s callback %r:" % (
                    "the" if success else "the error", callback), file=sys.stderr)
                traceback.print_exc()
        self._event.set()
        return True


AsyncResult = ApplyResult


class MapResult(ApplyResult):
    """A map_async's or starmap_async's result: get() returns the list."""


class IMapIterator:
    """imap's iterator: the results in input order, each as soon as it and
    those before it are in; next(timeout) raises TimeoutError when the
    next one is not in time. An item that failed raises its exception at
    its place and the iteration goes on, as in Pool. An iterable that
    raised ends the results where Pool ends them (at the start of the
    chunk it broke) with that exception."""

    _ordered = True

    def __init__(self, stream, chunksize):
        self._stream = stream
        self._chunksize = chunksize
        self._lock = threading.Lock()
        self._index = 0  # the next one to give, in input order
        self._ahead = {}  # in input order: index -> (success, value)
        self._arrived = collections.deque()  # unordered: (success, value)
        self._ended = False  # the answer is whole
        self._final = None  # the error that ended the stream, to raise once
        self._over = False

    def __iter__(self):
        return self

    def __del__(self):
        # Dropped before its end: poold stops the rest, as nobody will read it.
        stream = getattr(self, "_stream", None)
        if stream is not None and not stream.closed:
            try:
                stream.close()
            except Exception:
                pass

    def next(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                outcome = self._take()
                if outcome is not None:
                    success, value = outcome
                    if success:
                        return value
                    raise value
                if self._over:
                    raise StopIteration
                self._read(deadline)

    __next__ = next

    def _read(self, deadline):
        try:
            lines = self._stream.lines(deadline)
        except _http.Deadline:
            raise TimeoutError from None
        except BaseException:
            self._over = True
            self._stream.close()
            raise
        if lines is None:
            self._ended = True
            return
        for line in lines:
            self._absorb(line)

    def _absorb(self, line):
        index = line.get("index")
        if index is None:  # {"error": ..., "final": true}: why the stream was cut
            err = line.get("error") or {}
            self._final = errors.error_of(err.get("status", 500), err, self._stream.func)
            return
        if "error" in line:
            outcome = (False, errors.error_of(422, line["error"], self._stream.func, index))
        else:
            outcome = (True, line.get("result"))
        if self._ordered:
            self._ahead[index] = outcome
        else:
            self._arrived.append((index, outcome))

    def _cut(self):
        """Where the iterable's exception goes: Pool loses the items of the
        chunk it broke, so the results end at that chunk's start."""
        stream = self._stream
        if stream.failure is None:
            return None
        return stream.failed_at - stream.failed_at % self._chunksize

    def _stop(self, outcome):
        """The last outcome the iterator gives; the stream is dropped."""
        self._over = True
        self._stream.close()
        return outcome

    def _take(self):
        if self._over:
            return None
        cut = self._cut()
        if cut is not None and self._index >= cut:
            return self._stop((False, self._stream.failure))
        outcome = self._ahead.pop(self._index, None)
        if outcome is not None:
            self._index += 1
            return outcome
        return self._end_outcome()

    def _end_outcome(self):
        if self._final is not None:
            return self._stop((False, self._final))
        if self._ended:
            if self._index < self._stream.sent:
                return self._stop((False, self._stream.client.lost(
                    "poold's stream ended without the results of %d items" % (self._stream.sent - self._index))))
            self._over = True
        return None


class IMapUnorderedIterator(IMapIterator):
    """imap_unordered's iterator: each result as soon as it is in."""

    _ordered = False

    def _take(self):
        if self._over:
            return None
        cut = self._cut()
        while self._arrived:
            index, outcome = self._arrived.popleft()
            if cut is None or index < cut:
                self._index += 1
                return outcome
        if self._ended and cut is not None:
            return self._stop((False, self._stream.failure))
        return self._end_outcome()
