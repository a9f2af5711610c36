"""poold._stream: one imap call, /v1/imap or /v1/imap_unordered, with an
NDJSON body: the call on its first line, then one item a line, written
from the iterable by a thread of the stream's own (as Pool's task handler
consumes it) while the caller reads the answer's lines. Nothing is held
but a block of items on the way out and a block of lines on the way in,
so any iterable, a generator of a million items included, streams in flat
memory. poold (libmicrohttpd) answers once the whole body is in, keeping
the lines done meanwhile on disk; an answer that comes earlier (a refusal)
is read at once all the same.

An iterable that raises ends the body there: the items before it run, and
the caller sees the exception where Pool would show it (see
results.IMapIterator). So does an item JSON cannot carry.
"""
import json
import threading
import time

from . import _http, errors
from ._remote import encode, encode_text

NDJSON = b"Content-Type: application/x-ndjson\r\n"
BLOCK = 1024  # items encoded and written together
MAX_CHUNKSIZE = 10000  # poold's bound for a stream's chunksize


def _frame(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def _lines_text(items):
    """Items as NDJSON lines; a block of plain ints (the common case) takes
    a short way."""
    if set(map(type, items)) == {int}:
        return ("\n".join(map(str, items)) + "\n").encode()
    return ("\n".join(map(encode_text, items)) + "\n").encode()


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


class ItemError(Exception):
    """An item JSON cannot carry; `count` items before it went out."""

    def __init__(self, exc, count):
        super().__init__(exc)
        self.exc = exc
        self.count = count


class Stream:
    """The request going out on one thread, the answer read on another.

    `failure` is what the iterable raised (or the encoding of an item),
    `failed_at` how many items it had given before; `sent` counts the items
    written. The connection is the stream's until its answer is whole.
    """

    def __init__(self, remote, path, call, iterable, func):
        self.remote = remote
        self.client = remote.client
        self.func = func
        self.sent = 0
        self.failure = None
        self.failed_at = None
        self.written = threading.Event()  # the body is complete, or abandoned
        self.whole = False  # the body is complete, its last chunk sent
        self.closed = False
        self.body = None
        self.partial = b""
        it = iter(iterable)
        self.conn = self._start(self.client.head(b"POST", path, None, NDJSON) + _frame(encode(call) + b"\n"))
        self.thread = threading.Thread(target=self._write, args=(it,), name="poold-imap-writer", daemon=True)
        self.thread.start()

    def _start(self, opening):
        """A connection with the request's head and the call's line sent:
        nothing of the iterable yet, so a kept connection poold had closed
        is replaced, and the opening sent again."""
        for attempt in (0, 1):
            conn = self.client.acquire(fresh=attempt > 0)
            try:
                conn.send(opening)
                return conn
            except BaseException as exc:
                self.client.release(conn, keep=False)
                if attempt or not conn.reused or not isinstance(exc, errors.ConnectionLost):
                    raise

    # --- the writer's side ---

    def _write(self, it):
        try:
            self._write_items(it)
            self.conn.send(b"0\r\n\r\n")
            self.whole = True
        except BaseException:  # the connection went (the reader has its answer, or was closed)
            pass
        finally:
            self.written.set()

    def _write_items(self, it):
        block, failure = [], None
        try:
            while True:
                try:
                    item = next(it)
                except StopIteration:
                    break
                except Exception as exc:  # the iterable's own: Pool's caller sees it
                    failure = exc
                    break
                block.append(item)
                if len(block) >= BLOCK:
                    self._send_block(block)
                    block = []
            if block:
                self._send_block(block)
        except ItemError as exc:
            self.failure, self.failed_at = exc.exc, exc.count
            return
        if failure is not None:
            self.failure, self.failed_at = failure, self.sent

    def _send_block(self, block):
        try:
            data = _lines_text(block)
        except (TypeError, ValueError, RecursionError):
            data, bad = self._good_prefix(block)
            if data:
                self.conn.send(_frame(data))
                self.sent += data.count(b"\n")
            raise ItemError(bad, self.sent) from None
        self.conn.send(_frame(data))
        self.sent += len(block)

    @staticmethod
    def _good_prefix(block):
        lines = []
        for item in block:
            try:
                lines.append(encode_text(item))
            except (TypeError, ValueError, RecursionError) as exc:
                return ("".join(line + "\n" for line in lines)).encode(), exc
        raise AssertionError("a block failed, but none of its items")

    # --- the reader's side ---

    def _open(self, deadline):
        if self.client.tls is not None and not self.written.is_set():
            # One TLS connection is not read and written by two threads
            # at once: the answer is read once the body is out.
            if not self.written.wait(None if deadline is None else max(0.0, deadline - time.monotonic())):
                raise _http.Deadline()
        status, headers = self.conn.read_head(deadline)
        if status != 200:
            data = self.conn.read_body(headers, deadline)
            self.close()
            raise self.remote.error(status, headers, data, self.func)
        self.body = _http.Body(self.conn, headers)

    def lines(self, deadline=None):
        """The values of the next lines of the answer (a non-empty list), or
        None once it is whole. Raises _http.Deadline past the deadline,
        with nothing lost: the next call goes on from there."""
        if self.closed:
            return None
        if self.body is None:
            self._open(deadline)
        while True:
            data = self.body.read(deadline)
            if not data:
                self._end()
                if self.partial.strip():
                    raise self.client.lost("poold's stream ended in the middle of a line")
                return None
            data = self.partial + data if self.partial else data
            cut = data.rfind(b"\n")
            if cut < 0:
                self.partial = data
                continue
            self.partial = data[cut + 1:]
            values = parse_lines(data[:cut])
            if values:
                return values

    def _end(self):
        """The answer is whole: the connection is kept when the body was
        too (an early answer leaves the writer writing: the connection
        goes)."""
        self.closed = True
        self.client.release(self.conn, keep=self.written.wait(1.0) and self.whole)

    def close(self):
        """Stops the stream: poold, seeing the connection go, drops the
        items not started and stops those running."""
        if self.closed:
            return
        self.closed = True
        self.conn.abort()
        self.client.release(self.conn, keep=False)
