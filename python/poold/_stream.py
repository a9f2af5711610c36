"""poold._stream: one imap call (or a map over an iterator) as a run of
segments, each its own request to /v1/imap or /v1/imap_unordered.

poold (libmicrohttpd) answers a request once its whole body is in, so one
NDJSON request cannot stream a generator: its results would wait for the
generator's end, and an endless one would give none. So a feeder thread
reads the iterable into a bounded deque (as Pool's task handler consumes
it), and a sender thread cuts what waits into segments: one goes as soon
as the deque stays dry for LINGER seconds, or once it holds SEGMENT items
or SEGMENT_BYTES of them. Up to WINDOW segments are in flight at once,
each on a connection and a thread of its own that sends it whole and reads
its answer's lines as they come (a 503 sent again after its Retry-After,
within the call's budget). Their lines meet in one queue, their indexes
made the iterable's; the iterators put them in order (imap) or not
(imap_unordered). A fast iterable makes big segments, a slow one small
ones: each result comes about when Pool would give it.

An iterable that raises (any BaseException) ends the items there: the
items before it run, and the caller sees the exception where Pool would
show it (see results.IMapIterator). So does an item JSON cannot carry.
"""
import collections
import itertools
import json
import queue
import threading
import time

from . import _http, _remote, errors
from ._remote import checked_text, encode, encode_text
from ._wire import fault, ints_fit

NDJSON = b"Content-Type: application/x-ndjson\r\n"
BLOCK = 1024  # items encoded together
MAX_CHUNKSIZE = 10000  # poold's bound for a stream's chunksize


def lines_text(items):
    """Items as NDJSON lines; a block of plain ints (the common case) takes
    a short way. Raises as encode_text does, or ValueError when an item is
    what poold refuses (good_prefix finds it)."""
    ints = set(map(type, items)) == {int}
    text = "\n".join(map(str, items) if ints else map(encode_text, items))
    if (not ints_fit(items)) if ints else (fault(items, text) is not None):
        raise ValueError("an item poold cannot carry")
    return (text + "\n").encode()


def parse_lines(block):
    """The JSON values of the lines in block (bytes, whole lines)."""
    try:
        return json.loads(b"[" + block.replace(b"\n", b",") + b"]")
    except ValueError:
        pass
    values = []
    for line in block.split(b"\n"):
        if line.strip():
            values.append(json.loads(line))  # ValueError names the line's fault
    return values


def good_prefix(block):
    """The lines of a block's items up to the first JSON cannot carry, and
    that item's exception."""
    lines = []
    for item in block:
        try:
            lines.append(checked_text(item, where="an item of the iterable"))
        except (TypeError, ValueError, RecursionError, OverflowError) as exc:
            return ("".join(line + "\n" for line in lines)).encode(), exc
    raise AssertionError("a block failed, but none of its items")


SEGMENT = 10000  # most items a segment holds
SEGMENT_BYTES = 512 << 10  # most bytes of items a segment holds
AHEAD = 512  # items the feeder reads ahead of the sender
LINGER = 0.002  # seconds the deque stays dry before a part-filled segment goes
WINDOW = 4  # segments in flight at once


class Feeder:
    """The iterable, read on a thread of its own into a deque of at most
    AHEAD items. `done` once it ended; `failure` is what it raised."""

    def __init__(self, iterable):
        self.items = collections.deque()
        self.done = False
        self.failure = None
        self.stopped = False
        self.waiting = False  # the sender waits for an item: wake it
        self.arrived = threading.Event()
        self.room = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(iter(iterable),), name="poold-imap-feeder",
                                       daemon=True)
        self.thread.start()

    def _run(self, it):
        items, room = self.items, self.room
        try:
            for item in it:
                items.append(item)
                if self.waiting:
                    self.arrived.set()
                if len(items) >= AHEAD:
                    room.clear()
                    while len(items) >= AHEAD and not self.stopped:
                        room.wait(0.1)
                if self.stopped:
                    return
        except BaseException as exc:  # SystemExit too: raised in the caller, never a hang
            self.failure = exc
        finally:
            self.done = True
            self.arrived.set()

    def take(self, n, linger):
        """Up to n items: those waiting, else the next to come (after at
        most `linger` seconds when linger is not None). [] at the end."""
        items = self.items
        while not items:
            if self.stopped or (self.done and not items):
                return []
            self.waiting = True  # set before the check: the feeder's append then wakes it
            if not items and not self.done:
                self.arrived.wait(0.5 if linger is None else linger)
            self.waiting = False
            self.arrived.clear()
            if linger is not None and not items:
                return []
        block = [items.popleft() for _ in range(min(n, len(items)))]
        self.room.set()
        return block

    def stop(self):
        self.stopped = True
        self.room.set()
        self.arrived.set()


class Direct:
    """A sized iterable (a list, a range): its items are all there, so the
    sender reads them itself, with no feeder thread to hand them over."""

    def __init__(self, iterable):
        self.it = iter(iterable)
        self.failure = None

    def take(self, n, linger):
        try:
            return list(itertools.islice(self.it, n))
        except BaseException as exc:  # a sequence may raise too
            self.failure = exc
            return []

    def stop(self):
        pass


class Stream:
    """One call's segments; the interface results.IMapIterator reads:
    lines(deadline), and `failure`, `failed_at`, `sent`, `closed`."""

    def __init__(self, remote, path, call, iterable, func, window=WINDOW):
        self.remote = remote
        self.client = remote.client
        self.path = path
        self.func = func
        self.opening = encode(call) + b"\n"
        self.sent = 0
        self.failure = None
        self.failed_at = None
        self.closed = False
        self.lines_in = queue.SimpleQueue()  # lists of values, or an exception to raise
        self.lock = threading.Lock()
        self.conns = set()
        self.window = threading.BoundedSemaphore(window)
        self.spent = 0.0  # seconds waited out on 503s, for the whole call
        self.item_size = 8  # bytes an item's line took, lately
        self.feeder = Direct(iterable) if hasattr(iterable, "__len__") else Feeder(iterable)
        self.running = 1  # segments in flight, and the sender while it cuts
        self.sender = threading.Thread(target=self._send_loop, name="poold-imap-sender", daemon=True)
        self.sender.start()

    # --- cutting and sending ---

    def _send_loop(self):
        try:
            while not self.closed and self.failure is None:
                self.window.acquire()  # the slot goes with the segment, if one is cut
                if self.closed or not self._send_one():
                    self.window.release()
                    break
            if self.feeder.failure is not None and self.failure is None:
                self.failure, self.failed_at = self.feeder.failure, self.sent
        except BaseException as exc:
            # A fault of the sender's own: raised in the caller after the
            # items sent, as the iterable's would be; a thread that died
            # of it would end the answer short, without a word.
            if self.failure is None:
                self.failure, self.failed_at = exc, self.sent
        finally:
            if self.failure is not None or self.closed:
                self.feeder.stop()
            self._finished()

    def _send_one(self):
        """Cuts and starts one segment: False when there was nothing to send
        (the iterable ended, or its next item cannot be sent)."""
        parts, count, size = [self.opening], 0, 0
        while count < SEGMENT and size < SEGMENT_BYTES:
            # Blocks of about what fits, by the size the items had so far.
            n = min(BLOCK, SEGMENT - count, max(1, (SEGMENT_BYTES - size) // self.item_size))
            block = self.feeder.take(n, LINGER if count else None)
            if not block:
                break
            try:
                data = lines_text(block)
            except (TypeError, ValueError, RecursionError):
                data, bad = good_prefix(block)
                parts.append(data)
                count += data.count(b"\n")
                self.failure, self.failed_at = bad, self.sent + count
                if getattr(bad, "index", 0) is None:  # a refusal (_remote._refusal): its item, in the whole
                    bad.index = self.failed_at
                break
            parts.append(data)
            count += len(block)
            size += len(data)
            self.item_size = max(1, len(data) // len(block))
        if count == 0:
            return False
        offset, self.sent = self.sent, self.sent + count
        with self.lock:
            self.running += 1
        body = [b"".join(parts)]
        del parts
        threading.Thread(target=self._segment, args=(offset, body), name="poold-imap-segment",
                         daemon=True).start()
        return True

    def _finished(self):
        with self.lock:
            self.running -= 1
            if self.running == 0:
                self.lines_in.put(None)  # the call's end

    # --- one segment ---

    def _segment(self, offset, body):
        try:
            self._exchange(offset, body)
        except BaseException as exc:
            if not self.closed:
                self.lines_in.put(exc)
        finally:
            self.window.release()
            self._finished()

    def _exchange(self, offset, body):
        """body: a list of the segment's body, emptied once poold took it."""
        head = self.client.head(b"POST", self.path, len(body[0]), NDJSON)
        while True:
            conn, status, headers = self._open(head, body[0])
            if status == 200:
                body.clear()  # held no longer than needed: a generator streams in flat memory
                break
            data = conn.read_body(headers)
            self._release(conn, keep=True)
            exc = self.remote.error(status, headers, data, self.func)
            delay = _remote.retry_after(headers)
            if status != 503 or self.spent + delay > _remote.RETRY_BUDGET:
                raise exc
            self.spent += delay
            if self.remote.stop.wait(delay) or self.closed:
                raise errors.Cancelled("the pool was terminated, or the iterator dropped")
        try:
            partial = self._read_answer(conn, headers, offset)
        except BaseException:
            self._release(conn, keep=False)
            raise
        self._release(conn, keep=not partial.strip())
        if partial.strip():
            raise self.client.lost("poold's stream ended in the middle of a line")

    def _read_answer(self, conn, headers, offset):
        """Puts the answer's lines in lines_in as they come, their indexes
        the iterable's; returns what followed the last newline."""
        reader, partial = _http.Body(conn, headers), b""
        while True:
            data = reader.read()
            if not data:
                break
            data = partial + data if partial else data
            cut = data.rfind(b"\n")
            if cut < 0:
                partial = data
                continue
            partial = data[cut + 1:]
            values = parse_lines(data[:cut])
            if offset:
                for value in values:
                    if value.get("index") is not None:
                        value["index"] += offset
            if values:
                self.lines_in.put(values)
        return partial

    def _open(self, head, body):
        """A connection with the request sent and its answer's head read; a
        kept one poold had closed is replaced once."""
        for attempt in (0, 1):
            conn = self.client.acquire(fresh=attempt > 0)
            with self.lock:
                self.conns.add(conn)
            try:
                if len(body) < 65536:
                    conn.send(head + body)  # one write: a split one wakes poold twice
                else:
                    conn.send(head)
                    conn.send(body)
                status, headers = conn.read_head()
                return conn, status, headers
            except errors.ConnectionLost:
                self._release(conn, keep=False)
                if attempt or not conn.reused or conn.received or self.client.closed:
                    raise
            except BaseException:
                self._release(conn, keep=False)
                raise

    def _release(self, conn, keep):
        with self.lock:
            self.conns.discard(conn)
        self.client.release(conn, keep=keep)

    # --- the reader's side ---

    def lines(self, deadline=None):
        """The values of the next lines of the answers (a non-empty list),
        or None once every segment's answer is whole. Raises _http.Deadline
        past the deadline, with nothing lost."""
        if self.closed:
            return None
        try:
            if deadline is None:
                got = self.lines_in.get()
            else:
                got = self.lines_in.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise _http.Deadline() from None
        if got is None:
            self.closed = True
            return None
        if isinstance(got, BaseException):
            raise got
        return got

    def close(self):
        """Stops the call: poold, seeing the connections go, drops the items
        not started and stops those running."""
        if self.closed:
            return
        self.closed = True
        self.feeder.stop()
        with self.lock:
            conns = list(self.conns)
        for conn in conns:
            conn.abort()

