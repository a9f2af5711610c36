"""CPython's own tests of Pool (Lib/test/_test_multiprocessing.py:
_TestPool, _TestPoolWorkerErrors, _TestPoolWorkerLifetime), written again
for a pool whose workers are a poold server's; the functions are
tests/python/fns.py's, served by the suite's poold.

Left out, and why:
- the 'threads' and 'manager' flavours of each test: a remote pool is
  neither (no threading.Event can reach a worker, no manager proxies).
- len(p._pool), p._repopulate_pool() and the workers' pids as attributes
  (test_make_pool, test_pool_worker_lifetime): the client has no local
  workers; the lifetime test reads the pids through a served function.
- test_map_unplicklable and test_unpickleable_result as such: nothing is
  pickled. Their point stays: an argument JSON cannot carry raises
  TypeError in the caller, a result JSON cannot carry fails its item with
  TypeError (not MaybeEncodingError), and neither loses a worker or hangs.
- test_traceback's exc.args == (123,): only the exception's text crosses
  HTTP, so args is ('123',); the class, the RemoteTraceback cause and its
  source line are as in Pool.
- TestPoolNotLeakOnFailure: it makes the pool's own process creation
  fail, which a client never does.
"""
import gc
import json
import os
import subprocess
import sys
import time
import urllib.request
import warnings
import weakref

import pytest

import poold
from conftest import API_KEY, ROOT, Server
from multiprocessing.pool import RemoteTraceback

from fns import mul, sqr  # the same code, for the expected values


class SayWhenError(ValueError):
    pass


def exception_throwing_generator(total, when):
    if when == -1:
        raise SayWhenError("Somebody said when")
    for i in range(total):
        if i == when:
            raise SayWhenError("Somebody said when")
        yield i


@pytest.fixture(scope="module")
def pool(server):
    server.workers_idle()
    p = poold.Pool(4, url=server.url, api_key=API_KEY)
    yield p
    p.terminate()
    p.join()


def test_apply(pool):
    assert pool.apply(sqr, (5,)) == 25
    assert pool.apply(sqr, (), {"x": 3}) == 9


def test_map(pool):
    assert pool.map(sqr, list(range(10))) == [sqr(i) for i in range(10)]
    assert pool.map(sqr, list(range(100)), chunksize=20) == [sqr(i) for i in range(100)]


def test_starmap(pool):
    tuples = list(zip(range(10), range(9, -1, -1)))
    assert pool.starmap(mul, tuples) == [mul(*t) for t in tuples]
    tuples = list(zip(range(100), range(99, -1, -1)))
    assert pool.starmap(mul, tuples, chunksize=20) == [mul(*t) for t in tuples]


def test_starmap_async(pool):
    tuples = list(zip(range(100), range(99, -1, -1)))
    assert pool.starmap_async(mul, tuples).get() == [mul(*t) for t in tuples]


def test_map_async(pool):
    assert pool.map_async(sqr, list(range(10))).get() == [sqr(i) for i in range(10)]


def test_map_async_callbacks(pool):
    got = []
    pool.map_async("to_int", ["1"], callback=got.append, error_callback=got.append).wait()
    assert got == [[1]]
    pool.map_async("to_int", ["a"], callback=got.append, error_callback=got.append).wait()
    assert len(got) == 2 and isinstance(got[1], ValueError)


def test_map_unencodable(pool):
    class A:
        pass
    with pytest.raises(TypeError):
        pool.map(sqr, [A()] * 10)
    assert pool.apply(sqr, (2,)) == 4  # and nothing hangs after it


def test_map_chunksize(pool):
    try:
        pool.map_async(sqr, [], chunksize=1).get(timeout=1)
    except poold.TimeoutError:
        pytest.fail("map_async with chunksize stalled on an empty list")


def test_map_handle_iterable_exception(pool):
    with pytest.raises(SayWhenError):
        pool.map(sqr, exception_throwing_generator(1, -1), 1)
    with pytest.raises(SayWhenError):  # again: it is reentrant
        pool.map(sqr, exception_throwing_generator(1, -1), 1)
    with pytest.raises(SayWhenError):
        pool.map(sqr, exception_throwing_generator(10, 3), 1)

    class SpecialIterable:
        def __iter__(self):
            return self

        def __next__(self):
            raise SayWhenError

        def __len__(self):
            return 1

    for _ in range(2):
        with pytest.raises(SayWhenError):
            pool.map(sqr, SpecialIterable(), 1)


def test_async(pool):
    res = pool.apply_async(sqr, (7, 0.5))
    began = time.monotonic()
    assert res.get() == 49
    assert 0.3 <= time.monotonic() - began < 2.5


def test_async_timeout():
    p = poold.Pool(3)
    try:
        res = p.apply_async(sqr, (6, 2.0))
        began = time.monotonic()
        with pytest.raises(poold.TimeoutError):
            res.get(timeout=0.5)
        assert 0.45 <= time.monotonic() - began < 1.5
    finally:
        p.terminate()
        p.join()


def test_async_result_ready_successful_wait(pool):
    res = pool.apply_async("nap", (0.6,))
    assert res.ready() is False
    with pytest.raises(ValueError):
        res.successful()  # not ready: ValueError, as Pool's
    began = time.monotonic()
    assert res.wait(0.1) is None  # returns when the time is up, as Pool's
    assert 0.08 <= time.monotonic() - began < 0.5
    assert res.ready() is False
    res.wait()
    assert res.ready() is True and res.successful() is True and res.get() == 0.6
    failed = pool.map_async("to_int", ["1", "x"])
    failed.wait(10)
    assert failed.ready() is True and failed.successful() is False
    with pytest.raises(ValueError):
        failed.get()


def test_imap(pool):
    assert list(pool.imap(sqr, list(range(10)))) == [sqr(i) for i in range(10)]
    it = pool.imap(sqr, list(range(10)))
    for i in range(10):
        assert next(it) == i * i
    with pytest.raises(StopIteration):
        next(it)
    it = pool.imap(sqr, list(range(1000)), chunksize=100)
    for i in range(1000):
        assert next(it) == i * i
    with pytest.raises(StopIteration):
        next(it)


def test_imap_handle_iterable_exception(pool):
    for _ in range(2):  # the first item already: and again, reentrant
        it = pool.imap(sqr, exception_throwing_generator(1, -1), 1)
        with pytest.raises(SayWhenError):
            next(it)
    it = pool.imap(sqr, exception_throwing_generator(10, 3), 1)
    assert [next(it) for _ in range(3)] == [0, 1, 4]
    with pytest.raises(SayWhenError):
        next(it)
    # The exception comes at the start of the chunk it broke, as in Pool.
    it = pool.imap(sqr, exception_throwing_generator(20, 7), 2)
    assert [next(it) for _ in range(6)] == [i * i for i in range(6)]
    with pytest.raises(SayWhenError):
        next(it)
    it = pool.imap(sqr, exception_throwing_generator(20, 7), 4)
    assert [next(it) for _ in range(4)] == [i * i for i in range(4)]
    with pytest.raises(SayWhenError):
        next(it)


def test_imap_unordered(pool):
    assert sorted(pool.imap_unordered(sqr, list(range(10)))) == [sqr(i) for i in range(10)]
    assert sorted(pool.imap_unordered(sqr, list(range(1000)), chunksize=100)) == [i * i for i in range(1000)]


def test_imap_unordered_handle_iterable_exception(pool):
    for _ in range(2):
        it = pool.imap_unordered(sqr, exception_throwing_generator(1, -1), 1)
        with pytest.raises(SayWhenError):
            next(it)
    for total, when, chunksize in ((10, 3, 1), (20, 7, 2)):
        it = pool.imap_unordered(sqr, exception_throwing_generator(total, when), chunksize)
        expected = [i * i for i in range(total)]
        with pytest.raises(SayWhenError):
            for _ in range(total):
                value = next(it)
                assert value in expected
                expected.remove(value)


def test_make_pool():
    for processes in (-1, 0):
        with pytest.raises(ValueError):
            poold.Pool(processes)
    p = poold.Pool(3)
    p.close()
    p.join()


def test_terminate(server):
    p = poold.Pool(3)
    p.map_async("nap", [60] * 10000, chunksize=1)
    time.sleep(0.5)
    began = time.monotonic()
    p.terminate()
    p.join()
    assert time.monotonic() - began < 5
    # poold dropped the job's tasks and stopped the running ones.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        request = urllib.request.Request(server.url + "/v1/pool", headers={"Authorization": "Bearer " + API_KEY})
        queue = json.load(urllib.request.urlopen(request, timeout=5))["queue"]
        if queue["queued"] == 0 and queue["running"] == 0:
            break
        time.sleep(0.1)
    assert queue["queued"] == 0 and queue["running"] == 0, queue


def test_empty_iterable():
    p = poold.Pool(1)
    assert p.map(sqr, []) == []
    assert list(p.imap(sqr, [])) == []
    assert list(p.imap_unordered(sqr, [])) == []
    assert p.map_async(sqr, []).get() == []
    p.close()
    p.join()


def test_context():
    values = list(range(10))
    with poold.Pool(2) as p:
        assert p.map_async(sqr, values).get() == [sqr(i) for i in values]
    p.join()
    with pytest.raises(ValueError):
        p.map_async(sqr, values)


def test_traceback():
    with poold.Pool(1) as p:
        with pytest.raises(RuntimeError) as caught:
            p.apply("raise_runtime")
    p.join()
    exc = caught.value
    assert type(exc) is RuntimeError
    assert exc.args == ("123",)
    assert type(exc.__cause__) is RemoteTraceback
    assert "raise RuntimeError(123)  # some comment" in exc.__cause__.tb
    shown = subprocess.run(
        [sys.executable, "-c", "import poold, sys; p = poold.Pool(1); p.apply('raise_runtime')"],
        env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")), capture_output=True, text=True, timeout=30)
    assert "raise RuntimeError(123)  # some comment" in shown.stderr
    assert "The above exception was the direct cause" in shown.stderr
    # The iterable's own exception is no remote one.
    with poold.Pool(1) as p:
        with pytest.raises(SayWhenError) as caught:
            p.map(sqr, exception_throwing_generator(1, -1), 1)
    assert caught.value.__cause__ is None


def test_wrapped_exception():
    with poold.Pool(1) as p:
        with pytest.raises(RuntimeError):
            p.apply("raise_runtime")
    p.join()


def test_map_no_failfast():
    began = time.monotonic()
    with pytest.raises(ValueError):
        with poold.Pool(2) as p:
            try:
                p.map("raise_large_valuerror", [0, 1])
            finally:
                time.sleep(0.5)
                p.close()
                p.join()
    assert time.monotonic() - began > 0.5


def test_release_task_refs(pool):
    class Arg(list):  # a list JSON carries, and a weakref can follow
        pass
    objs = [Arg([i]) for i in range(10)]
    refs = [weakref.ref(o) for o in objs]
    assert pool.map("identity", objs) == [[i] for i in range(10)]
    del objs
    gc.collect()
    assert set(ref() for ref in refs) == {None}


def test_enter():
    p = poold.Pool(1)
    with p:
        pass  # terminates it
    with pytest.raises(ValueError):
        with p:
            pass
    p.join()


def test_resource_warning():
    p = poold.Pool(1)
    p.terminate()
    p.join()
    p._state = "RUN"  # as if still running, for __del__
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = None
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) and "unclosed running multiprocessing pool"
               in str(w.message) for w in caught)


# --- _TestPoolWorkerErrors ---

def test_async_error_callback():
    p = poold.Pool(2)
    got = []
    res = p.apply_async("raising", error_callback=got.append)
    with pytest.raises(KeyError) as caught:
        res.get()
    assert caught.value.args == ("key",)
    assert len(got) == 1 and isinstance(got[0], KeyError)
    p.close()
    p.join()


def test_unencodable_result():
    p = poold.Pool(2)
    for _ in range(20):
        got = []
        res = p.apply_async("a_set", error_callback=got.append)
        with pytest.raises(TypeError):
            res.get()
        assert len(got) == 1 and isinstance(got[0], TypeError)
    assert p.apply(sqr, (3,)) == 9  # no worker was lost to it
    p.close()
    p.join()


# --- _TestPoolWorkerLifetime ---

def test_pool_worker_lifetime(tmp_path):
    srv = Server(str(tmp_path), "--max-tasks-per-child", "10", processes=3).start()
    try:
        p = poold.Pool(3, maxtasksperchild=10, url=srv.url)
        results = [p.apply_async("whoami") for _ in range(100)]
        pids = {res.get(timeout=60)[1] for res in results}
        # 100 tasks, 10 a worker: at least ten workers ran them.
        assert len(pids) >= 10, pids
        p.close()
        p.join()
    finally:
        srv.stop()


def test_pool_worker_lifetime_early_close(tmp_path):
    srv = Server(str(tmp_path), "--max-tasks-per-child", "1", processes=3).start()
    try:
        p = poold.Pool(3, maxtasksperchild=1, url=srv.url)
        results = [p.apply_async(sqr, (i, 0.3)) for i in range(6)]
        p.close()
        p.join()
        assert [res.get(timeout=0) for res in results] == [sqr(i) for i in range(6)]
    finally:
        srv.stop()


def test_pool_maxtasksperchild_invalid():
    for value in (0, -1, 0.5, "12"):
        with pytest.raises(ValueError):
            poold.Pool(3, maxtasksperchild=value)


def test_worker_finalization_via_atexit_handler():
    program = (
        "from poold import Pool\n"
        "problem = None\n"
        "class A:\n"
        "    def __init__(self):\n"
        "        self.pool = Pool(processes=1)\n"
        "def test():\n"
        "    global problem\n"
        "    problem = A()\n"
        "    problem.pool.map('identity', tuple(range(10)))\n"
        "if __name__ == '__main__':\n"
        "    test()\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
    assert done.returncode == 0, done.stderr


def job_status(server, job):
    request = urllib.request.Request(server.url + "/v1/jobs/" + job, headers={"Authorization": "Bearer " + API_KEY})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.load(answer)["status"]


def test_a_pool_left_running_at_exit_cancels_its_jobs(server):
    program = (
        "import time\n"
        "from poold import Pool\n"
        "pool = Pool(1)\n"
        "results = [pool.apply_async('nap', (30,)) for _ in range(3)]\n"
        "while not all(r._job for r in results):\n"
        "    time.sleep(0.05)\n"
        "print(' '.join(r._job for r in results), flush=True)\n")  # exits, the pool running
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
    assert done.returncode == 0, done.stderr
    jobs = done.stdout.split()
    assert len(jobs) == 3
    assert [job_status(server, job) for job in jobs] == ["cancelled"] * 3


def test_a_pool_collected_running_cancels_its_jobs(server):
    p = poold.Pool(1)
    res = p.apply_async("nap", (30,))
    deadline = time.monotonic() + 10
    while res._job is None and time.monotonic() < deadline:
        time.sleep(0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        p = None
        gc.collect()
    assert job_status(server, res._job) == "cancelled"
    with pytest.raises(poold.Cancelled):
        res.get(5)
