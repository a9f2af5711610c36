"""poold.pool: Pool, with multiprocessing.pool.Pool's API and behaviour,
its workers those of a poold server.

The server is `url`, else $POOLD_URL, else http://127.0.0.1:8080; the API
key `api_key`, else $POOLD_API_KEY. A function is named by a string, or
given as a callable and sent by its __name__: the server must serve a
function of that name (poold --python FILE.py serves FILE.py's).

The arguments that shape a Pool's workers belong to the server; they are
taken so that a Pool program runs unchanged, and do this:

- processes: at least 1, else ValueError (as Pool). poold's --processes
  decides how many workers run; this one sizes the client: how many of
  this pool's jobs it waits on at once (processes + 1 pollers), and
  the chunksize of a map over an iterator (Pool's own formula, over the
  first 10,000 items). None: the server's count (GET /v1/pool).
- initializer, initargs: checked as Pool checks them (a callable, or a
  name), never run here: poold runs an initializer in each worker when
  its --functions file declares it ({"python": FILE, "initializer":
  NAME, "initargs": [...]}).
- maxtasksperchild: a positive int or None, else ValueError (as Pool);
  poold's --max-tasks-per-child recycles its workers.
"""
import itertools
import math
import operator
import os
import re
import threading
import warnings
import weakref

from . import errors
from ._http import Client, Group
from ._jobs import Jobs
from ._remote import Remote, encode
from ._stream import MAX_CHUNKSIZE, WINDOW, Stream
from .results import ApplyResult, IMapIterator, IMapUnorderedIterator, MapResult

DEFAULT_URL = "http://127.0.0.1:8080"
RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"
PREFIX = 10000  # items of an iterator map() reads before it chooses how to send them
MAX_MAP_BODY = 32 << 20  # a map's body past this streams instead (--max-body is 64M by default)
PART_ITEMS = 60000  # a map of two parts or more goes in parts of about this many items
THREADS = 8  # parts of one map under way at once (_map_parts)


def func_name(func):
    """A function's name on the server: a string as it is, else __name__."""
    if isinstance(func, str):
        return func
    name = getattr(func, "__name__", None)
    if not isinstance(name, str):
        raise TypeError("poold calls a function by its name, and %r has no __name__" % (func,))
    return name


def _seq(items):
    return items if isinstance(items, (list, tuple)) else list(items)


def _collect(stream):
    """A streamed map's results, in order (its segments' answers come
    interleaved); the first failure raised (the iterable's own first, as
    Pool's map raises it before any work)."""
    results, ahead = [], {}
    while True:
        lines = stream.lines()
        if lines is None:
            break
        for line in lines:
            index = line.get("index")
            if "result" in line and index is not None:
                if index == len(results):
                    results.append(line["result"])
                    while ahead:
                        value = ahead.pop(len(results), ahead)
                        if value is ahead:
                            break
                        results.append(value)
                else:
                    ahead[index] = line["result"]
                continue
            if stream.failure is not None:
                raise stream.failure
            err = line.get("error")
            if not isinstance(err, dict):
                raise stream.client.lost("poold's stream answered a line without a result")
            raise errors.error_of(err.get("status", 422), err, stream.func, index)
    if stream.failure is not None:
        raise stream.failure
    if len(results) != stream.sent:
        raise stream.client.lost("poold's stream ended after %d of %d results" % (len(results), stream.sent))
    return results


class Pool:
    """multiprocessing.pool.Pool, run by a poold server (see the module's
    doc for what the arguments do)."""

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None, *,
                 url=None, api_key=None):
        self._state = None  # __del__ looks at it, whatever raises below
        if processes is not None:
            processes = operator.index(processes)  # TypeError, as Pool's range(processes)
        if processes is not None and processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None and (
                not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0):
            raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not (callable(initializer) or isinstance(initializer, str)):
            raise TypeError("initializer must be a callable")
        self._processes = processes
        self._initializer = initializer
        self._initargs = initargs
        self._maxtasksperchild = maxtasksperchild
        url = url or os.environ.get("POOLD_URL") or DEFAULT_URL
        self._client = Client(url, api_key if api_key is not None else os.environ.get("POOLD_API_KEY"))
        self._stop = threading.Event()
        self._remote = Remote(self._client, self._stop)
        self._lock = threading.Lock()
        self._life = _Life(self._client, self._stop)
        # As Pool's util.Finalize: a pool collected, or left running at the
        # interpreter's exit, is terminated (its jobs deleted on the server).
        self._terminate_once = weakref.finalize(self, self._life.end)
        self._state = RUN

    def __repr__(self):
        return "<%s.%s state=%s url=%s>" % (type(self).__module__, type(self).__qualname__,
                                           self._state, self._client.url)

    def __reduce__(self):
        raise NotImplementedError("pool objects cannot be passed between processes or pickled")

    def __del__(self, _warn=warnings.warn, RUN=RUN):
        if getattr(self, "_state", None) == RUN:
            _warn("unclosed running multiprocessing pool %r" % self, ResourceWarning, source=self)

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, *exc):
        self.terminate()

    def _check_running(self):
        if self._state != RUN:
            raise ValueError("Pool not running")

    # --- synchronous calls ---

    def apply(self, func, args=(), kwds={}):
        """func(*args, **kwds) on a worker; blocks until its result."""
        self._check_running()
        name = func_name(func)
        return self._remote.post(b"/v1/apply", encode(_apply_call(name, args, kwds)), name)["result"]

    def map(self, func, iterable, chunksize=None):
        """[func(x) for x in iterable], in order. A list (or anything with
        a length) goes as one call; an iterator is read 10,000 items ahead,
        and if it goes on, streamed to /v1/imap in flat memory."""
        self._check_running()
        name = func_name(func)
        if hasattr(iterable, "__len__"):
            # A range stays one: its body is written without a list of it.
            return self._map_list(name, iterable if type(iterable) is range else _seq(iterable), chunksize)
        iterator = iter(iterable)
        prefix = list(itertools.islice(iterator, PREFIX))
        if len(prefix) < PREFIX:
            return self._map_list(name, prefix, chunksize)
        return self._map_stream(name, itertools.chain(prefix, iterator), chunksize or self._chunksize(PREFIX))

    def starmap(self, func, iterable, chunksize=None):
        """[func(*args) for args in iterable], in order."""
        self._check_running()
        name = func_name(func)
        items = _seq(iterable)
        if not items:
            return []
        return self._starmap_parts(name, items, chunksize)

    def _starmap_parts(self, name, items, chunksize):
        """starmap of items as one call, or, refused as too large (more
        tasks than --max-queue holds, a body past --max-body), as calls
        that fit, one after another: the first that fails ends it, as a
        failed item ends one call (poold drops its tasks not started),
        its item's index made the one in the whole."""
        try:
            return self._remote.post(b"/v1/starmap", encode(_map_call(name, items, chunksize)), name)["results"]
        except errors.BadRequest as exc:
            size = _part_size(exc, len(items), chunksize)
            if size is None:
                raise
        results = []
        for start in range(0, len(items), size):
            try:
                results += self._starmap_parts(name, items[start:start + size], chunksize)
            except Exception as exc:
                if getattr(exc, "index", None) is not None:
                    exc.index += start
                raise
        return results

    def _map_list(self, name, items, chunksize):
        if not items:
            return []
        if chunksize is None and len(items) > MAX_CHUNKSIZE:
            chunksize = self._chunksize(len(items))
        if len(items) >= 2 * PART_ITEMS:
            whole = chunksize or self._chunksize(len(items))
            if self._parts_fit(len(items), whole):
                return self._map_parts(name, items, whole)
        return self._map_one(name, items, chunksize)

    def _parts_fit(self, count, chunksize):
        """Whether the tasks of the parts under way at once all go into
        poold's queue, so that they run side by side: parts that did not
        fit would wait on each other for room (and, past the 503s' budget,
        fail), where one call is refused as too large for the queue and
        streamed."""
        if not isinstance(chunksize, int) or chunksize < 1:
            return False  # one call says why poold refuses it
        room = self._remote.queue_max()
        return room is None or -(-min(count, THREADS * _part_items(chunksize)) // chunksize) <= room

    def _map_parts(self, name, items, chunksize):
        """A long map as calls of about PART_ITEMS items each (whole chunks
        of the map's chunksize), THREADS of them under way at once, each on
        its own connection, the results joined in order: this client
        encodes one part's body and decodes another's answer while poold's
        workers run the rest (a call of it whole would do each in turn, the
        caller idle while the workers work, and the workers idle while it
        encodes and decodes), as Pool's task and result threads overlap its
        workers; parts this small leave the workers little to wait for at
        the start (the first body) and the caller little at the end (the
        last answer). Every part runs to its end (one call would drop its
        tasks not started once an item failed), and the failure of the
        lowest index is raised, as one call's on_error "raise" raises it.
        Interrupted (KeyboardInterrupt), it raises at once, and the parts
        under way end with their connections, which makes poold drop their
        work, as it does one call's."""
        size = _part_items(chunksize)
        starts = range(0, len(items), size)
        answers = [None] * len(starts)
        group = Group()
        turns = iter(range(len(starts)))  # next() is atomic: each part is taken once

        def run(caught):
            for k in turns:
                if group.aborted:  # interrupted: no part more is encoded, nor sent
                    return
                try:
                    answers[k] = (True, self._map_one(name, items[starts[k]:starts[k] + size], chunksize, group))
                except caught as exc:  # raised in the caller's thread below
                    answers[k] = (False, exc)

        threads = [threading.Thread(target=run, args=(BaseException,), daemon=True)
                   for _ in range(min(THREADS, len(starts)) - 1)]
        try:
            for thread in threads:
                thread.start()
            run(Exception)  # the caller's own KeyboardInterrupt ends the map
            for thread in threads:
                thread.join()
        except BaseException:
            group.abort()
            raise
        results = []
        for k, (ok, value) in enumerate(answers):
            if not ok:
                if getattr(value, "index", None) is not None:
                    value.index += starts[k]  # the item's place in the whole map
                raise value
            results += value
        return results

    def _map_one(self, name, items, chunksize, group=None):
        """A map as one call (group: see _http.Group)."""
        body = encode(_map_call(name, items, chunksize))
        if len(body) <= MAX_MAP_BODY:
            try:
                return self._remote.post(b"/v1/map", body, name, group=group)["results"]
            except errors.BadRequest as exc:
                # Too large for --max-body, or more tasks than --max-queue
                # holds: a stream takes any length.
                if not _too_large(exc):
                    raise
        return self._map_stream(name, items, chunksize or self._chunksize(len(items)), group)

    def _map_stream(self, name, iterable, chunksize, group=None):
        stream = self._stream(b"/v1/imap", name, iterable, chunksize, None)
        try:
            if group is not None and not group.enter(stream.close):
                raise errors.Cancelled("the call was interrupted")
            return _collect(stream)
        finally:
            if group is not None:
                group.leave(stream.close)
            stream.close()

    def _chunksize(self, n):
        """Pool's default chunksize for n items, at most 10,000 (poold's
        cost of a chunk grows faster than its length past that: a million
        items take 2.5 s in chunks of 10,000, 6.5 s in Pool's 125,000)."""
        processes = self._processes or self._remote.processes()
        return max(1, min(MAX_CHUNKSIZE, math.ceil(n / (4 * processes))))

    # --- streams ---

    def imap(self, func, iterable, chunksize=1, buffersize=None):
        """An iterator of func(x) for x in iterable, in order, each result
        as soon as it and those before it are done; next(timeout)."""
        return self._imap(b"/v1/imap", IMapIterator, func, iterable, chunksize, buffersize)

    def imap_unordered(self, func, iterable, chunksize=1, buffersize=None):
        """As imap, each result as soon as it is done."""
        return self._imap(b"/v1/imap_unordered", IMapUnorderedIterator, func, iterable, chunksize, buffersize)

    def _imap(self, path, cls, func, iterable, chunksize, buffersize):
        self._check_running()
        if chunksize < 1:
            raise ValueError("Chunksize must be 1+, not {0:n}".format(chunksize))
        name = func_name(func)
        stream = self._stream(path, name, iterable, chunksize, buffersize)
        return cls(stream, min(chunksize, MAX_CHUNKSIZE))

    def _stream(self, path, name, iterable, chunksize, buffersize):
        call = {"func": name, "chunksize": min(chunksize, MAX_CHUNKSIZE)}
        if buffersize is not None:
            call["buffersize"] = buffersize
        stream = Stream(self._remote, path, call, iterable, name, 1 if buffersize is not None else WINDOW)
        self._life.watch(stream)
        return stream

    # --- asynchronous calls: poold's jobs ---

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        """apply, as a job: an ApplyResult at once."""
        self._check_running()
        name = func_name(func)
        return self._submit(ApplyResult(name, callback, error_callback), b"/v1/apply_async",
                            lambda: _apply_call(name, args, kwds))

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """map, as a job: a MapResult at once (the iterable is read first)."""
        return self._map_async(b"/v1/map_async", func, iterable, chunksize, callback, error_callback)

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """starmap, as a job: a MapResult at once."""
        return self._map_async(b"/v1/starmap_async", func, iterable, chunksize, callback, error_callback)

    def _map_async(self, path, func, iterable, chunksize, callback, error_callback):
        self._check_running()
        name = func_name(func)
        items = _seq(iterable)
        result = MapResult(name, callback, error_callback)
        if not items:
            result._set(True, [], callbacks=False)  # Pool's empty map: ready, no callback
            return result
        if path == b"/v1/map_async":
            whole = lambda: self._map_stream(name, items, chunksize or self._chunksize(len(items)))
        else:
            whole = lambda: self._starmap_parts(name, items, chunksize)
        return self._submit(result, path, lambda: _map_call(name, items, chunksize), whole)

    def _submit(self, result, path, make_call, whole=None):
        """whole: how to run the call synchronously should poold refuse the
        job as too large (see Jobs.add)."""
        try:
            body = encode(make_call())
        except (TypeError, ValueError, RecursionError, OverflowError) as exc:
            body = exc  # the result fails with it, as Pool's does when it cannot send a task
        self._engine().add(result, path, body, whole)
        return result

    @property
    def _jobs(self):
        return self._life.jobs

    def _engine(self):
        with self._lock:
            self._check_running()
            if self._life.jobs is None:
                processes = self._processes
                if processes is None:
                    try:
                        processes = self._remote.processes()
                    except errors.RemoteError:
                        processes = 2
                self._life.jobs = Jobs(self._remote, min(processes + 1, 32))
            return self._life.jobs

    # --- the pool's life ---

    def close(self):
        """No new work; what was submitted runs to its end (join waits)."""
        with self._lock:
            if self._state == RUN:
                self._state = CLOSE
            jobs = self._jobs
        if jobs is not None:
            jobs.close()

    def terminate(self):
        """Stops at once: jobs not ended are deleted on the server (their
        results fail with Cancelled), streams are dropped (poold stops
        their work), calls under way in other threads raise Cancelled."""
        with self._lock:
            self._state = TERMINATE
        self._terminate_once()
        self._life.join()

    def join(self):
        """Waits for the pool's async calls, after close() or terminate()."""
        if self._state == RUN:
            raise ValueError("Pool is still running")
        with self._lock:
            jobs = self._jobs
        if jobs is not None:
            jobs.join()
        self._client.close_idle()


def _part_items(chunksize):
    """Items of a part of a long map: whole chunks, about PART_ITEMS."""
    return max(1, round(PART_ITEMS / chunksize)) * chunksize


def _too_large(exc):
    """A refusal of a call's size: a body past --max-body (413), or more
    tasks than --max-queue holds (400 on chunksize)."""
    return exc.status == 413 or getattr(exc, "field", None) == "chunksize"


def _part_size(exc, count, chunksize):
    """Items a part of a call refused as too large should have (None: it
    cannot be split): as many chunks as --max-queue holds, else half."""
    if not _too_large(exc) or count < 2:
        return None
    found = re.search(r"--max-queue \((\d+)\)", exc.message or "")
    if exc.status != 413 and found and chunksize:
        return max(1, min(count // 2, int(found.group(1)) * chunksize))
    return (count + 1) // 2


class _Life:
    """What a pool leaves behind to stop: its connections, its jobs and its
    streams, without a reference to the Pool itself (its finalizer holds
    this)."""

    def __init__(self, client, stop):
        self.client = client
        self.stop = stop
        self.jobs = None
        self.streams = weakref.WeakSet()
        self.lock = threading.Lock()  # a WeakSet copied while another thread adds raises

    def watch(self, stream):
        with self.lock:
            self.streams.add(stream)

    def end(self):
        """terminate()'s work, once: the jobs not ended deleted, the
        streams dropped, the connections closed."""
        self.stop.set()
        if self.jobs is not None:
            self.jobs.terminate()
        with self.lock:
            streams = list(self.streams)
        for stream in streams:
            stream.close()
        self.client.close()

    def join(self):
        if self.jobs is not None:
            self.jobs.join()


def _apply_call(name, args, kwds):
    call = {"func": name, "args": args if isinstance(args, (list, tuple)) else list(args)}
    if kwds:
        call["kwds"] = kwds
    return call


def _map_call(name, items, chunksize):
    call = {"func": name, "iterable": items}
    if chunksize is not None:
        call["chunksize"] = chunksize
    return call
