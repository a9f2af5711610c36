"""poold._remote: poold's calls on top of the connections: JSON bodies in,
the decoded answer or the mapped exception out, and a 503 (a full queue,
workers that crash at start-up, a stop) sent again after its Retry-After,
for RETRY_BUDGET seconds of waiting at most.
"""
import json
import time
import uuid

from . import errors
from ._wire import INT64, fault, ints_fit, lone_surrogate, uncarried, wide_int

RETRY_BUDGET = 30.0  # seconds one call may spend waiting out 503s
JSON = b"Content-Type: application/json\r\n"

# Compact, and refusing what JSON cannot carry (nan, inf) rather than
# writing what poold would refuse as not JSON.
_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
encode_text = _encoder.encode


def encode(obj):
    """A call's JSON body. Raises what poold would refuse as not JSON
    before it is sent, as the runtime does for a result (OverflowError,
    UnicodeEncodeError, ValueError; see _wire), with the item's index when
    it is in the call's iterable."""
    items = obj.get("iterable") if type(obj) is dict else None
    text = _ints_text(items)
    if text is not None:
        if type(items) is range and items and (items[0] not in INT64 or items[-1] not in INT64) \
                or type(items) is list and not ints_fit(items):  # in C: cheaper than _wire.fault's scan
            raise _refusal(obj, "wide", items)
        head = encode_text({k: v for k, v in obj.items() if k != "iterable"})
        return b"".join(((head[:-1] + ("," if len(head) > 2 else "") + '"iterable":').encode(), text.encode(), b"}"))
    return checked_text(obj, items).encode()


def checked_text(value, items=None, where="the call"):
    """value's JSON text, raising what poold would refuse (see encode):
    value is where; items: the iterable it holds, whose item at fault is
    named."""
    text = encode_text(value)
    what = fault(value, text)
    if what is not None:
        raise _refusal(value, what, items, where)
    return text


def _has_nul(value):
    return value if uncarried(encode_text(value)) == "nul" else None


_FAULTS = {"wide": wide_int, "lone": lone_surrogate, "nul": _has_nul}


def _refusal(value, what, items=None, where="the call"):
    """The exception for what poold cannot carry in value ("wide", "lone",
    "nul"; see _wire): the first item of items at fault (its index the
    exception's), else value as a whole."""
    find = _FAULTS[what]
    index = None
    if isinstance(items, (list, tuple, range)):
        index = next((k for k, item in enumerate(items) if find(item) is not None), None)
        value = value if index is None else items[index]
    # The index is the exception's, not its words': a long map's part
    # raises it, and the map sets it to the item's place in the whole.
    where = where if index is None else "an item of the iterable"
    if what == "wide":
        exc = OverflowError("%s holds an integer past 64 bits (%d), which poold's JSON cannot carry: "
                            "send it as a str or a float" % (where, find(value)))
    elif what == "lone":
        try:
            find(value).encode("utf-8")
        except UnicodeEncodeError as raised:  # UTF-8's own words, its position in the str
            exc = raised.with_traceback(None)
        exc.add_note("%s holds this str, which poold's JSON (UTF-8) cannot carry "
                     "(text decoded with surrogateescape?)" % where)
    else:
        exc = ValueError("%s holds a str with a NUL character ('\\x00'), which poold's JSON cannot "
                         "carry: send its bytes' hex, or escape it" % where)
    exc.index = index
    return exc


def _ints_text(items):
    """The JSON text of a long list or range of ints, else None. A list of
    ints reads the same in repr as in JSON, and repr writes it five times
    as fast (a map's body of a million: 0.05 s, not 0.25); a range is
    written a slice at a time, never made a list of a million (0.1 s)."""
    if type(items) is range:
        return "[" + ",".join(repr(list(items[k:k + 10000]))[1:-1]
                              for k in range(0, len(items), 10000)) + "]"
    if type(items) is list and len(items) > 256 and set(map(type, items)) == {int}:
        return repr(items)
    return None


def retry_after(headers):
    try:
        return min(max(float(headers.get("retry-after", "1")), 0.05), RETRY_BUDGET)
    except ValueError:
        return 1.0


class Remote:
    """One pool's calls to poold. `stop` is the pool's event: terminate()
    sets it, and a wait between retries ends with it."""

    def __init__(self, client, stop):
        self.client = client
        self.stop = stop
        self._info = None

    def error(self, status, headers, data, func=None):
        """The exception of an answer that is not a success."""
        try:
            problem = json.loads(data) if data else None
        except ValueError:
            problem = {"detail": data[:200].decode("utf-8", "replace")}
        return errors.problem_error(status, problem, func, headers)

    def call(self, method, path, body=b"", func=None, extra=b"", group=None):
        """(status, headers, body) of a 2xx answer; raises the mapped
        exception of any other, once the 503s' budget is spent. group: an
        _http.Group whose abort() ends the call."""
        spent = 0.0
        while True:
            status, headers, data = self.client.request(method, path, body, extra, group=group)
            if status < 300:
                return status, headers, data
            exc = self.error(status, headers, data, func)
            delay = retry_after(headers)
            if status != 503 or spent + delay > RETRY_BUDGET:
                raise exc
            if self._wait(delay, group):
                raise errors.Cancelled("the pool was terminated, or the call interrupted")
            spent += delay

    def _wait(self, delay, group):
        """Waits delay seconds; True when the pool stopped (or group was
        aborted) meanwhile. A group is looked at every 0.1 s: one event
        cannot be waited on with another."""
        if group is None:
            return self.stop.wait(delay)
        end = time.monotonic() + delay
        while not group.aborted:
            left = end - time.monotonic()
            if left <= 0:
                return False
            if self.stop.wait(min(left, 0.1)):
                return True
        return True

    def post(self, path, body, func=None, idempotent=False, group=None):
        """The decoded answer of a POST of a JSON body. idempotent: with an
        Idempotency-Key, so that sending it again makes no second job."""
        extra = JSON
        if idempotent:
            extra += b"Idempotency-Key: %s\r\n" % uuid.uuid4().hex.encode()
        return json.loads(self.call(b"POST", path, body, func, extra, group)[2])

    def _pool(self):
        """GET /v1/pool, asked once: what it says does not change while
        poold runs."""
        if self._info is None:
            self._info = json.loads(self.call(b"GET", b"/v1/pool")[2])
        return self._info

    def processes(self):
        """The server's worker count."""
        return int(self._pool().get("processes") or 1)

    def queue_max(self):
        """How many tasks poold's queue holds (--max-queue), or None when it
        does not say."""
        queue = self._pool().get("queue")
        room = queue.get("max") if isinstance(queue, dict) else None
        return room if isinstance(room, int) else None
