"""What a call raises: a function's exception as the same built-in class,
or a RemoteError named after its type, with the remote traceback as its
cause; poold's own outcomes as the documented RemoteError subclasses."""
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

import poold
from conftest import API_KEY, ROOT
from multiprocessing.pool import RemoteTraceback
from poold import _remote, errors
from poold import pool as pool_module


@pytest.fixture
def pool():
    p = poold.Pool()
    yield p
    p.terminate()
    p.join()


@pytest.mark.parametrize("func, args, cls, text", [
    ("to_int", ("x",), ValueError, "invalid literal for int() with base 10: 'x'"),
    ("raising", (), KeyError, "'key'"),
    ("divide", (1, 0), ZeroDivisionError, "division by zero"),
    ("add", (), TypeError, "missing 1 required positional argument"),
])
def test_builtin_exceptions_come_back_as_themselves(pool, func, args, cls, text):
    with pytest.raises(cls) as caught:
        pool.apply(func, args)
    assert type(caught.value) is cls
    assert text in str(caught.value)
    assert isinstance(caught.value.__cause__, RemoteTraceback)


def test_exceptions_of_several_arguments_come_back_as_their_class(pool):
    with pytest.raises(ValueError) as caught:  # UnicodeDecodeError is a ValueError
        pool.apply("bad_utf8")
    assert type(caught.value) is UnicodeDecodeError
    assert str(caught.value) == "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
    assert caught.value.encoding == "utf-8" and caught.value.start == 0
    with pytest.raises(OSError) as caught:
        pool.apply("open_missing", ("/nonexistent/x",))
    assert type(caught.value) is FileNotFoundError
    assert caught.value.errno == 2 and caught.value.filename == "/nonexistent/x"
    assert str(caught.value) == "[Errno 2] No such file or directory: '/nonexistent/x'"


def test_a_builtin_exception_its_message_cannot_remake_keeps_its_class():
    exc = errors.function_error({"type": "UnicodeTranslateError", "message": "odd"})
    assert type(exc) is UnicodeTranslateError and exc.args == ("odd",)
    exc = errors.function_error({"type": "OSError", "message": "[Errno 18] Invalid cross-device link: 'a' -> 'b'"})
    assert (exc.errno, exc.filename, exc.filename2) == (18, "a", "b")


def test_the_remote_traceback_is_the_cause(pool):
    with pytest.raises(ZeroDivisionError) as caught:
        pool.apply("divide", (1, 0))
    tb = caught.value.__cause__.tb
    assert "fns.py" in tb and "return a / b" in tb and "in divide" in tb


def test_a_programs_own_exception_is_a_remote_error_of_its_name(pool):
    with pytest.raises(poold.RemoteError) as caught:
        pool.apply("raise_oops", ("boom",))
    exc = caught.value
    assert type(exc).__name__ == "Oops" and exc.type == "Oops"
    assert str(exc) == "boom" and exc.status == 422 and exc.func == "raise_oops"
    assert "raise Oops(msg)" in exc.__cause__.tb
    with pytest.raises(type(exc)):  # one class per remote type
        pool.apply("raise_oops", ("again",))


def test_a_maps_error_names_its_item(pool):
    with pytest.raises(ZeroDivisionError) as caught:
        pool.starmap("divide", [(1, 1), (1, 0), (4, 2)])
    assert caught.value.index == 1


def test_imap_raises_an_items_error_in_its_place_and_goes_on(pool):
    it = pool.imap("to_int", ["1", "x", "3"])
    assert next(it) == 1
    with pytest.raises(ValueError):
        next(it)
    assert next(it) == 3
    with pytest.raises(StopIteration):
        next(it)


def test_a_result_json_cannot_carry_is_a_type_error(pool):
    with pytest.raises(TypeError, match="set"):
        pool.apply("a_set")


def test_a_str_holding_escapes_as_text_comes_back_whole(pool):
    # json.dumps writes a character past the BMP as two \\u escapes, which a
    # str then holds as text: backslashes and letters, no surrogate.
    text = json.dumps({"greeting": "hi \U0001F600"}) + "C:\\ud800\\udc00\\u0000"
    assert pool.apply("identity", (text,)) == text
    assert pool.map("identity", [text, "x"]) == [text, "x"]  # an answer of bare values
    it = pool.imap("text_of", [[ord(c) for c in text], [-1]], chunksize=2)  # of an outcome an item
    assert next(it) == text
    with pytest.raises(ValueError):
        next(it)


def test_a_str_with_nul_is_an_items_value_error_not_a_lost_worker(pool):
    with pytest.raises(ValueError, match="NUL"):
        pool.apply("text_of", ([97, 0],))
    with pytest.raises(ValueError, match="NUL") as caught:
        pool.map("text_of", [[97], [0], [98]], chunksize=3)
    assert caught.value.index == 1
    it = pool.imap("text_of", [[97], [0], [98]], chunksize=3)
    assert next(it) == "a"
    with pytest.raises(ValueError, match="NUL"):
        next(it)
    assert next(it) == "b"


def test_a_dead_worker_is_worker_lost_and_the_pool_goes_on(pool):
    with pytest.raises(poold.WorkerLost) as caught:
        pool.apply("die", (3,))
    assert caught.value.status == 502 and "3" in str(caught.value)
    assert pool.apply("sqr", (4,)) == 16


def test_a_task_past_its_timeout_is_task_timeout(pool):
    began = time.monotonic()
    with pytest.raises(poold.TaskTimeout) as caught:
        pool.apply("nap", (30,))  # the suite's poold has --task-timeout 3
    assert caught.value.status == 504
    assert 2.5 < time.monotonic() - began < 10


def test_an_unknown_function_is_function_not_found(pool):
    with pytest.raises(poold.FunctionNotFound):
        pool.apply("no_such_function")
    with pytest.raises(poold.FunctionNotFound):
        pool.apply(lambda: 1)
    with pytest.raises(poold.FunctionNotFound):
        pool.map("no_such_function", [1, 2])
    with pytest.raises(poold.FunctionNotFound):
        next(pool.imap("no_such_function", iter(range(3))))
    res = pool.apply_async("no_such_function")
    with pytest.raises(poold.FunctionNotFound):
        res.get(timeout=10)
    assert isinstance(res._value, LookupError)


def test_a_wrong_or_missing_key_is_unauthorized(server):
    for key in ("wrong", ""):
        p = poold.Pool(url=server.url, api_key=key)
        with pytest.raises(poold.Unauthorized) as caught:
            p.apply("sqr", (2,))
        assert caught.value.status == 401 and isinstance(caught.value, PermissionError)
        p.terminate()


def test_what_poold_refuses_is_bad_request(pool):
    with pytest.raises(poold.BadRequest) as caught:
        pool.apply("")  # a name poold refuses
    assert caught.value.status == 400 and isinstance(caught.value, ValueError)


def test_a_result_with_a_lone_surrogate_is_a_unicode_encode_error_in_utf8s_words(pool):
    for call in (lambda: pool.apply("text_of", ([120, 0xDC80],)),
                 lambda: pool.map("text_of", [[97], [120, 0xDC80]])):
        with pytest.raises(UnicodeEncodeError) as caught:
            call()
        exc = caught.value
        assert type(exc) is UnicodeEncodeError and exc.encoding == "utf-8" and exc.start == 1
        assert "surrogates not allowed" in str(exc) and "text_of() returned it" in str(exc)


@pytest.mark.parametrize("call, cls, index", [
    (lambda p: p.apply("identity", (2 ** 64,)), OverflowError, None),
    (lambda p: p.apply("identity", ({"k": [-(2 ** 63) - 1]},)), OverflowError, None),
    (lambda p: p.map("identity", range(2 ** 63 - 2, 2 ** 63 + 2)), OverflowError, 2),
    (lambda p: p.map("identity", list(range(300)) + [2 ** 70]), OverflowError, 300),
    (lambda p: p.map("identity", ["a", "b\0"]), ValueError, 1),
    (lambda p: p.map("identity", ["a", "b", "x\udc80"]), UnicodeEncodeError, 2),
    (lambda p: p.starmap("add", [(1, 2), (3, 2 ** 70)]), OverflowError, 1),
    (lambda p: p.apply("identity", ("x\udc80",)), UnicodeEncodeError, None),
    (lambda p: p.apply_async("identity", (2 ** 64,)).get(timeout=5), OverflowError, None),
    (lambda p: p.map_async("identity", [1, "\0"]).get(timeout=5), ValueError, 1),
])
def test_what_poolds_json_cannot_carry_is_refused_in_the_caller_by_its_item(pool, call, cls, index):
    # poold's JSON holds ints within 64 bits and strings without NUL or half
    # a surrogate pair: the caller is told which item, before anything is sent.
    with pytest.raises(cls) as caught:
        call(pool)
    assert not isinstance(caught.value, poold.RemoteError)  # not poold's 400: never sent
    assert caught.value.index == index
    words = str(caught.value) + " ".join(getattr(caught.value, "__notes__", []))
    assert ("an item of the iterable" if index is not None else "the call") in words


def test_a_long_maps_item_poold_cannot_carry_is_named_by_its_place_in_the_whole(pool, monkeypatch):
    monkeypatch.setattr(pool_module, "PART_ITEMS", 500)
    items = list(range(3000))
    items[2100] = 2 ** 64
    with pytest.raises(OverflowError, match="an item of the iterable") as caught:
        pool.map("identity", items, chunksize=100)  # the fifth part's 100th
    assert caught.value.index == 2100


def test_an_imap_item_poold_cannot_carry_ends_the_items_there(pool):
    for bad, cls in ((2 ** 70, OverflowError), ("\0", ValueError), ("\udc80", UnicodeEncodeError)):
        it = pool.imap("identity", iter([1, 2, bad, 4]))
        assert [next(it), next(it)] == [1, 2]
        with pytest.raises(cls, match="an item of the iterable|surrogates") as caught:
            next(it)
        assert caught.value.index == 2


def test_a_streamed_maps_item_poold_cannot_carry_is_named_by_its_index(pool):
    # Past PREFIX items an iterator's map streams: the item is still named.
    def items(bad):
        for k in range(pool_module.PREFIX + 5000):
            yield bad if k == pool_module.PREFIX + 1234 else k

    for bad, cls in ((2 ** 70, OverflowError), ("\0", ValueError), ("\udc80", UnicodeEncodeError)):
        with pytest.raises(cls) as caught:
            pool.map("identity", items(bad))
        assert caught.value.index == pool_module.PREFIX + 1234


NS = 1796625600387792235  # a time.time_ns(): 19 digits, within 64 bits


WIDE_DIGITS = [2 ** 63 - 1, -2 ** 63, NS]
DIGIT_TEXTS = [str(x) * 2 for x in WIDE_DIGITS]


@pytest.mark.parametrize("call, expected", [
    (lambda p: p.map("identity", WIDE_DIGITS * 300), WIDE_DIGITS * 300),  # past 256 ints: the short way
    (lambda p: p.map_async("identity", WIDE_DIGITS * 300).get(timeout=10), WIDE_DIGITS * 300),
    (lambda p: list(p.imap("identity", iter(WIDE_DIGITS))), WIDE_DIGITS),
    (lambda p: sorted(p.imap_unordered("identity", iter(WIDE_DIGITS))), sorted(WIDE_DIGITS)),
    (lambda p: p.map("identity", iter(WIDE_DIGITS * 3400)), WIDE_DIGITS * 3400),  # streamed
    (lambda p: p.map("identity", DIGIT_TEXTS), DIGIT_TEXTS),
    (lambda p: list(p.imap("identity", iter(DIGIT_TEXTS))), DIGIT_TEXTS),
])
def test_what_poolds_json_carries_is_sent_though_its_digits_run_long(pool, call, expected):
    # 19 digits (a nanosecond clock, 2**63 - 1) fit in 64 bits: no refusal,
    # no short answer.
    assert call(pool) == expected


def test_wide_int_finds_the_int_past_64_bits_in_a_list_of_ints_and_nothing_else():
    from enum import IntEnum
    from poold import _wire
    big = IntEnum("Big", {"A": 2 ** 64})
    assert _wire.wide_int([NS] * 1000 + [2 ** 63]) == 2 ** 63
    assert _wire.wide_int([NS, -2 ** 63 - 1, 0]) == -2 ** 63 - 1
    assert _wire.wide_int([2 ** 63 - 1, -2 ** 63]) is None
    assert _wire.wide_int([]) is None and _wire.wide_int([True, False]) is None
    assert _wire.wide_int([1, big.A]) == 2 ** 64  # an int of a class of its own: walked
    assert _wire.wide_int({"k": [1, 2 ** 64]}) == 2 ** 64
    assert _wire.wide_int({2 ** 64: 1}) is None  # json.dumps writes the key as a str


def test_an_int_enum_beside_19_digits_is_sent_and_returned_at_once(pool):
    # range's `in` walks the range for an int of another class than int:
    # 2**64 steps for an IntEnum, if it were asked of INT64, in C, the GIL
    # held: the caller's own process is the one to bound it.
    code = ("import poold; from http import HTTPStatus\n"
            "print(poold.Pool().apply('identity', ([HTTPStatus.OK, '1' * 19],)))")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert done.stdout == "[200, '1111111111111111111']\n", done.stderr
    assert pool.apply("status_and", ("1" * 19,)) == [200, "1" * 19]  # the runtime's answer, in time


def test_a_fault_of_the_clients_own_while_sending_is_raised_not_a_short_answer(pool, monkeypatch):
    from poold import _stream

    def broken(items):
        raise RuntimeError("broken")

    monkeypatch.setattr(_stream, "lines_text", broken)
    with pytest.raises(RuntimeError, match="broken"):
        list(pool.imap("identity", iter([1, 2, 3])))
    with pytest.raises(RuntimeError, match="broken"):
        pool.map("identity", iter(range(pool_module.PREFIX + 1)))


def test_what_json_cannot_carry_is_refused_in_the_caller(pool):
    with pytest.raises(ValueError):
        pool.apply("identity", (float("nan"),))
    with pytest.raises(TypeError):
        pool.apply("identity", (object(),))
    res = pool.apply_async("identity", (object(),))
    with pytest.raises(TypeError):
        res.get(timeout=5)


def test_a_job_cancelled_elsewhere_is_cancelled(server, pool):
    res = pool.apply_async("nap", (2.5,))
    deadline = time.monotonic() + 5
    while res._job is None and time.monotonic() < deadline:
        time.sleep(0.02)
    request = urllib.request.Request(server.url + "/v1/jobs/" + res._job, method="DELETE",
                                     headers={"Authorization": "Bearer " + API_KEY})
    urllib.request.urlopen(request, timeout=5).close()
    with pytest.raises(poold.Cancelled) as caught:
        res.get(timeout=10)
    assert caught.value.status == 410


def test_a_full_queue_is_tried_again_after_retry_after(make_server, fill_queue):
    srv = make_server("--max-queue", "1", processes=1)
    fill_queue(srv.url, 0.2)
    p = poold.Pool(1, url=srv.url, api_key="")
    began = time.monotonic()
    assert p.apply("sqr", (3,)) == 9  # a 503 first, then room after its Retry-After
    assert time.monotonic() - began > 0.9
    p.terminate()


def test_a_full_queue_past_the_retry_budget_is_pool_unavailable(make_server, monkeypatch, fill_queue):
    srv = make_server("--max-queue", "1", processes=1)
    fill_queue(srv.url, 5)
    monkeypatch.setattr(_remote, "RETRY_BUDGET", 2.5)
    p = poold.Pool(1, url=srv.url, api_key="")
    began = time.monotonic()
    with pytest.raises(poold.PoolUnavailable) as caught:
        p.apply("sqr", (3,))
    assert caught.value.status == 503 and caught.value.retry_after == "1"
    assert 1.9 < time.monotonic() - began < 4  # two Retry-Afters of 1 s, no more
    p.terminate()


def test_error_classes_are_remote_errors():
    for cls in (poold.WorkerLost, poold.TaskTimeout, poold.PoolUnavailable, poold.FunctionNotFound,
                poold.Unauthorized, poold.BadRequest, poold.Cancelled, poold.ConnectionLost):
        assert issubclass(cls, poold.RemoteError)
    assert issubclass(poold.ConnectionLost, ConnectionError)
    assert errors.remote_class("Oops") is errors.remote_class("Oops")
    assert poold.TimeoutError is __import__("multiprocessing").TimeoutError
    assert json.loads("1") == 1
