"""What a call raises: a function's exception as the same built-in class,
or a RemoteError named after its type, with the remote traceback as its
cause; poold's own outcomes as the documented RemoteError subclasses."""
import json
import time
import urllib.request

import pytest

import poold
from conftest import API_KEY
from multiprocessing.pool import RemoteTraceback
from poold import _remote, errors


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
        pool.apply("identity", (2 ** 70,))  # past 64 bits: poold's JSON holds no wider
    assert caught.value.status == 400 and isinstance(caught.value, ValueError)


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
