"""poold._http: HTTP/1.1 to one poold, on plain sockets kept alive.

Why not http.client: it parses every answer's headers with the email
package, which makes a small call half as slow again on loopback (apply
of echo: 290 us a call against 210 us here), and a read that timed out
leaves its response unusable, where a call must be able to wait as long
as its function runs and still notice a server that went away.

So a wait never hangs: every silent HEARTBEAT seconds a waiting read or
write checks that poold still answers GET /healthz (on a connection of its
own, within PROBE_TIMEOUT; any answer from poold in the meantime counts
as well), and a server that was killed resets its connections at once.
A connection is kept after a complete answer and reused by the next
request of any thread; one idle past IDLE_MAX, or that a request failed
on before any byte of the answer came, is dropped (the request is then
sent once more, on a new connection, when its body allows).
"""
import select
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from .errors import Cancelled, ConnectionLost

CONNECT_TIMEOUT = 10.0  # seconds to open a connection
HEARTBEAT = 5.0  # seconds of silence before poold's health is checked
PROBE_TIMEOUT = 5.0  # seconds GET /healthz may take
IDLE_MAX = 20.0  # a connection idle longer is not reused (poold's default closes at 60)
MAX_HEAD = 64 * 1024  # the longest head of an answer
RECV_SIZE = 256 * 1024


class Deadline(Exception):
    """A read's own deadline passed (next(timeout) of an imap)."""


class Conn:
    """One connection: its socket, and what was read but not consumed."""

    def __init__(self, client):
        self.client = client
        self.sock = client.connect()
        self.poll = select.poll()
        self.poll.register(self.sock, select.POLLIN)
        self.tls = isinstance(self.sock, ssl.SSLSocket)
        self.buf = bytearray()
        self.scratch = bytearray(RECV_SIZE)
        self.received = 0  # bytes of the current answer's so far
        self.used = time.monotonic()
        self.reused = False
        self.keep = True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Wakes whatever thread is blocked on this connection: its read
        sees the end, its write an error."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send(self, data):
        view = memoryview(data)
        while view:
            try:
                n = self.sock.send(view)
            except socket.timeout:
                self.client.check_alive()
                continue
            except OSError as exc:
                raise self.client.lost("could not send to poold", exc) from None
            view = view[n:]

    def _wait(self, deadline):
        """Until the socket has something to read: False when a HEARTBEAT
        passed in silence (or the deadline, which raises Deadline)."""
        if self.tls and self.sock.pending():
            return True
        wait = HEARTBEAT
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                raise Deadline()
        try:
            return bool(self.poll.poll(wait * 1000))
        except OSError as exc:
            raise self.client.lost("could not wait for poold", exc) from None

    def fill(self, deadline=None):
        """Reads what has come into buf: False at the connection's end."""
        while True:
            if not self._wait(deadline):
                if deadline is not None and time.monotonic() >= deadline:
                    raise Deadline()
                self.client.check_alive()
                continue
            try:
                n = self.sock.recv_into(self.scratch)
            except (socket.timeout, ssl.SSLWantReadError):
                continue  # a TLS record not whole yet
            except OSError as exc:
                raise self.client.lost("the connection to poold broke", exc) from None
            if n == 0:
                return False
            self.client.alive_at = time.monotonic()
            self.buf += memoryview(self.scratch)[:n]
            self.received += n
            return True

    def need(self, deadline=None):
        if not self.fill(deadline):
            raise self.client.lost("poold closed the connection before its answer was whole")

    def read_head(self, deadline=None):
        """The answer's status and headers (names in lower case)."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buf) > MAX_HEAD:
                raise self.client.lost("poold's answer has no end of head")
            self.need(deadline)
        lines = bytes(self.buf[:end]).split(b"\r\n")
        del self.buf[:end + 4]
        if not lines[0].startswith(b"HTTP/1."):
            raise self.client.lost("not an HTTP answer: %r" % lines[0][:80])
        status = int(lines[0][9:12])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        if headers.get("connection", "").lower() == "close":
            self.keep = False
        if 100 <= status < 200:
            return self.read_head(deadline)
        return status, headers

    def read_body(self, headers, deadline=None):
        length = headers.get("content-length")
        if length is not None and len(self.buf) >= int(length) and "transfer-encoding" not in headers:
            body = bytes(self.buf[:int(length)])  # all in already: the common case
            del self.buf[:int(length)]
            return body
        reader = Body(self, headers)
        parts = []
        while True:
            data = reader.read(deadline)
            if not data:
                return b"".join(parts)
            parts.append(data)


class Body:
    """An answer's body as it comes: chunked, of a Content-Length, or up
    to the connection's end. read() returns b"" once it is whole."""

    def __init__(self, conn, headers):
        self.conn = conn
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self.left = int(length) if length is not None and not self.chunked else -1
        if self.left < 0 and not self.chunked:
            conn.keep = False  # its end is the connection's
        self.in_chunk = 0  # bytes of the current chunk still to come
        self.trailers = False  # past the last chunk, up to the empty line
        self.done = self.left == 0

    def read(self, deadline=None):
        if self.done:
            return b""
        if self.chunked:
            return self._chunk(deadline)
        conn = self.conn
        if not conn.buf and not conn.fill(deadline):
            if self.left >= 0:
                raise conn.client.lost("poold's answer was cut short")
            self.done = True
            return b""
        n = len(conn.buf) if self.left < 0 else min(self.left, len(conn.buf))
        data = bytes(conn.buf[:n])
        del conn.buf[:n]
        if self.left >= 0:
            self.left -= n
            self.done = self.left == 0
        return data

    def _line(self, deadline):
        conn = self.conn
        while True:
            end = conn.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(conn.buf[:end])
                del conn.buf[:end + 2]
                return line
            if len(conn.buf) > MAX_HEAD:
                raise conn.client.lost("a chunk's size line has no end")
            conn.need(deadline)

    def _chunk(self, deadline):
        conn = self.conn
        while self.in_chunk == 0:
            line = self._line(deadline)
            if self.trailers:
                if not line:
                    self.done = True
                    return b""
                continue
            if not line:
                continue  # the CRLF that ends a chunk's data
            try:
                size = int(line.split(b";")[0], 16)
            except ValueError:
                raise conn.client.lost("a chunk's size is not a number: %r" % line[:40]) from None
            self.trailers = size == 0
            self.in_chunk = size
        if not conn.buf:
            conn.need(deadline)
        n = min(self.in_chunk, len(conn.buf))
        data = bytes(conn.buf[:n])
        del conn.buf[:n]
        self.in_chunk -= n
        return data


class Group:
    """Calls that end together, on other threads than the one that ends
    them: abort() wakes those under way (a read sees its connection's end,
    and poold, seeing it go, drops the call's work) and refuses any after
    it. A call enters it with the callable that stops it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stops = set()
        self.aborted = False

    def enter(self, stop):
        """False once aborted: the call must not begin."""
        with self.lock:
            if not self.aborted:
                self.stops.add(stop)
            return not self.aborted

    def leave(self, stop):
        with self.lock:
            self.stops.discard(stop)

    def abort(self):
        with self.lock:
            self.aborted = True
            stops, self.stops = list(self.stops), set()
        for stop in stops:
            stop()


class Client:
    """The connections to one poold, shared by every thread of a Pool."""

    def __init__(self, url, api_key=None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("poold's URL must be http://HOST[:PORT] or https://...: %r" % url)
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base = parts.path.rstrip("/").encode()
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        netloc = parts.netloc.rpartition("@")[2]
        self.fixed = b"Host: %s\r\n" % netloc.encode("idna")
        if api_key:
            self.fixed += b"Authorization: Bearer %s\r\n" % api_key.encode()
        self.lock = threading.Lock()
        self.idle = []
        self.active = set()
        self.closed = False
        self.alive_at = 0.0  # when poold last answered anything
        self.dead_at = -HEARTBEAT  # when a health check last failed
        self.probe_lock = threading.Lock()

    def lost(self, what, exc=None):
        """The exception for a connection that failed: ConnectionLost, or
        Cancelled once the pool closed its connections on purpose."""
        if self.closed:
            return Cancelled("the pool was terminated")
        reason = ": %s" % (exc.strerror or exc) if isinstance(exc, OSError) else ""
        return ConnectionLost("%s (%s)%s" % (what, self.url, reason))

    def connect(self):
        try:
            sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise self.lost("cannot connect to poold", exc) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(HEARTBEAT)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                raise self.lost("TLS with poold failed", exc) from None
        return sock

    def acquire(self, fresh=False):
        """A connection for one request, reused when one is idle."""
        now = time.monotonic()
        with self.lock:
            if self.closed:
                raise self.lost("closed")
            while self.idle and not fresh:
                conn = self.idle.pop()
                if now - conn.used < IDLE_MAX and (now - conn.used < 1.0 or not conn.poll.poll(0)):
                    conn.reused = True
                    conn.received = 0
                    self.active.add(conn)
                    return conn
                conn.close()  # stale, or poold closed it (readable while idle)
        conn = Conn(self)
        with self.lock:
            if self.closed:
                conn.close()
                raise self.lost("closed")
            self.active.add(conn)
        return conn

    def release(self, conn, keep=True):
        with self.lock:
            self.active.discard(conn)
            if keep and conn.keep and not conn.buf and not self.closed:
                conn.used = time.monotonic()
                self.idle.append(conn)
                return
        conn.close()

    def head(self, method, path, length=None, extra=b""):
        framing = b"Transfer-Encoding: chunked\r\n" if length is None else b"Content-Length: %d\r\n" % length
        return b"%s %s%s HTTP/1.1\r\n%s%s%s\r\n" % (method, self.base, path, self.fixed, framing, extra)

    def request(self, method, path, body=b"", extra=b"", deadline=None, group=None):
        """Sends one request; returns (status, headers, body). A request on
        a reused connection that died before any byte of the answer is sent
        again, once, on a new one. group: a Group whose abort() ends it."""
        head = self.head(method, path, len(body), extra)
        # A large body goes after its head, not copied behind it.
        data = (head, body) if len(body) > 1 << 16 else (head + body,)
        for attempt in (0, 1):
            conn = self.acquire(fresh=attempt > 0)
            if group is not None and not group.enter(conn.abort):
                self.release(conn)
                raise Cancelled("the call was interrupted")
            try:
                for piece in data:
                    conn.send(piece)
                status, headers = conn.read_head(deadline)
                answer = conn.read_body(headers, deadline)
            except ConnectionLost:
                self.release(conn, keep=False)
                if group is not None and group.aborted:
                    raise Cancelled("the call was interrupted") from None
                if attempt == 0 and conn.reused and conn.received == 0 and not self.closed:
                    continue
                raise
            except BaseException:
                self.release(conn, keep=False)
                raise
            finally:
                if group is not None:
                    group.leave(conn.abort)
            self.release(conn)
            self.alive_at = time.monotonic()
            return status, headers, answer

    def pipeline(self, requests, deadline=None):
        """Sends requests (whole, as head() and a body make them) on one
        connection at once, then reads their answers in order: HTTP/1.1
        pipelining, which libmicrohttpd serves in order. Returns (answers,
        exc): the answers that came, and what stopped the rest (None when
        all came, or poold closed the connection after the last answer it
        gave: the rest were not read, and may be sent again). Past the
        deadline (time.monotonic()) the rest count as lost."""
        for attempt in (0, 1):
            try:
                conn = self.acquire(fresh=attempt > 0)
            except ConnectionLost as exc:
                return [], exc
            answers = []
            try:
                conn.send(b"".join(requests))
                for _ in requests:
                    status, headers = conn.read_head(deadline)
                    answers.append((status, headers, conn.read_body(headers, deadline)))
                    if not conn.keep:
                        break
            except Deadline:
                self.release(conn, keep=False)
                return answers, self.lost("poold did not answer in time")
            except ConnectionLost as exc:
                self.release(conn, keep=False)
                if attempt == 0 and not answers and conn.reused and conn.received == 0 and not self.closed:
                    continue
                return answers, exc
            except BaseException:
                self.release(conn, keep=False)
                raise
            self.release(conn)
            self.alive_at = time.monotonic()
            return answers, None

    def check_alive(self):
        """Raises ConnectionLost unless poold answered something in the last
        HEARTBEAT seconds, or answers GET /healthz now."""
        if self.closed:
            raise self.lost("closed")
        with self.probe_lock:
            now = time.monotonic()
            if now - self.alive_at < HEARTBEAT:
                return
            if now - self.dead_at < HEARTBEAT:  # another thread's check just failed
                raise self.lost("poold stopped answering: GET /healthz failed")
            try:
                self.probe()
            except (OSError, ssl.SSLError) as exc:
                self.dead_at = time.monotonic()
                raise self.lost("poold stopped answering: GET /healthz failed", exc) from None
            self.alive_at = time.monotonic()

    def probe(self):
        """GET /healthz on a connection of its own: any HTTP answer will do
        (a 503 while poold stops is an answer)."""
        sock = socket.create_connection((self.host, self.port), timeout=PROBE_TIMEOUT)
        try:
            sock.settimeout(PROBE_TIMEOUT)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            sock.sendall(b"GET %s/healthz HTTP/1.1\r\n%sConnection: close\r\n\r\n" % (self.base, self.fixed))
            got = b""
            while len(got) < 12:
                data = sock.recv(64)
                if not data:
                    break
                got += data
            if not got.startswith(b"HTTP/1."):
                raise ConnectionResetError("GET /healthz got no HTTP answer")
        finally:
            sock.close()

    def close_idle(self):
        with self.lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()

    def close(self):
        """Closes every connection, waking the threads blocked on them."""
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
            active = list(self.active)
        for conn in idle:
            conn.close()
        for conn in active:
            conn.abort()
