"""A server stopped, killed (kill -9) or unreachable mid-call: the call
raises, it never hangs; and many threads sharing one Pool."""
import os
import signal
import socket
import threading
import time

import pytest

import poold
from poold import _http


def raises_soon(call, within, *classes):
    """Runs call in a thread: it must raise one of classes within `within`
    seconds. Returns the exception."""
    caught = []

    def run():
        try:
            call()
        except BaseException as exc:
            caught.append(exc)
        else:
            caught.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), "the call still hangs after %s s" % within
    assert caught[0] is not None, "the call returned"
    assert isinstance(caught[0], classes), repr(caught[0])
    return caught[0]


def in_a_moment(action, delay=0.7):
    timer = threading.Timer(delay, action)
    timer.start()
    return timer


def test_a_server_killed_mid_call_raises_connection_lost(make_server):
    srv = make_server()
    p = poold.Pool(url=srv.url, api_key="")
    assert p.apply("sqr", (2,)) == 4  # a kept-alive connection, in use below
    res = p.apply_async("nap", (30,))
    it = p.imap("nap", [0.1, 30])
    assert next(it) == 0.1
    in_a_moment(lambda: srv.signal(signal.SIGKILL))
    exc = raises_soon(lambda: p.apply("nap", (30,)), 5, poold.ConnectionLost)
    assert srv.url in str(exc)
    raises_soon(lambda: res.get(), 5, poold.ConnectionLost)
    raises_soon(lambda: next(it), 5, poold.ConnectionLost)
    raises_soon(lambda: p.map("sqr", [1, 2]), 5, poold.ConnectionLost)
    p.terminate()


def test_a_server_stopped_mid_call_raises(make_server):
    srv = make_server()  # --shutdown-grace 1: the call is cut after a second
    p = poold.Pool(url=srv.url, api_key="")
    in_a_moment(lambda: srv.signal(signal.SIGTERM))
    raises_soon(lambda: p.apply("nap", (30,)), 10, poold.PoolUnavailable, poold.ConnectionLost)
    p.terminate()


def test_a_server_that_stops_answering_mid_call_raises(make_server, fast_heartbeat):
    srv = make_server()
    p = poold.Pool(url=srv.url, api_key="")
    assert p.apply("sqr", (2,)) == 4
    in_a_moment(lambda: srv.signal(signal.SIGSTOP))  # alive, but silent: as if cut off
    try:
        exc = raises_soon(lambda: p.apply("nap", (30,)), 6, poold.ConnectionLost)
        assert "stopped answering" in str(exc)
    finally:
        srv.signal(signal.SIGCONT)
    p.terminate()


def test_a_long_call_on_a_live_server_is_not_cut(fast_heartbeat):
    # Heartbeats of 0.5 s, a call of 2.5 s: the health checks pass.
    with poold.Pool() as p:
        assert p.apply("nap", (2.5,)) == 2.5


def test_an_unreachable_server_raises_at_once(fast_heartbeat):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    p = poold.Pool(url="http://127.0.0.1:%d" % port)
    raises_soon(lambda: p.apply("sqr", (1,)), 3, poold.ConnectionLost)
    raises_soon(lambda: p.apply_async("sqr", (1,)).get(), 5, poold.ConnectionLost)
    raises_soon(lambda: list(p.imap("sqr", [1])), 3, poold.ConnectionLost)
    p.terminate()
    # A listener whose accept queue is full: the connect times out.
    with socket.socket() as listener, socket.socket() as first:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        first.connect(listener.getsockname())
        p = poold.Pool(url="http://127.0.0.1:%d" % listener.getsockname()[1])
        exc = raises_soon(lambda: p.apply("sqr", (1,)), _http.CONNECT_TIMEOUT + 3, poold.ConnectionLost)
        assert "cannot connect" in str(exc)
        p.terminate()


def test_terminate_cuts_the_calls_under_way_in_other_threads():
    p = poold.Pool()
    in_a_moment(p.terminate, 0.5)
    raises_soon(lambda: p.apply("nap", (2.5,)), 3, poold.Cancelled)


def test_many_threads_share_one_pool():
    errors, done = [], []
    with poold.Pool(2) as p:
        def work(k):
            try:
                for i in range(25):
                    assert p.apply("add", (k, i)) == k + i
                assert p.map("sqr", range(k, k + 50)) == [x * x for x in range(k, k + 50)]
                assert list(p.imap("sqr", iter(range(20)))) == [x * x for x in range(20)]
                assert sorted(p.imap_unordered("sqr", range(10), 3)) == [x * x for x in range(10)]
                results = [p.apply_async("mul", (k, i)) for i in range(10)]
                assert [r.get(timeout=30) for r in results] == [k * i for i in range(10)]
                assert p.starmap_async("mul", [(k, 2)]).get(timeout=30) == [2 * k]
                done.append(k)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        # Connections are kept and shared: far fewer than the calls made.
        opened = len(p._client.idle) + len(p._client.active)
    assert not errors, errors
    assert sorted(done) == list(range(8))
    assert opened <= 8 + 2 + 3 + 8, opened


def test_connections_are_kept_alive(monkeypatch):
    opened = []
    real = _http.Client.connect

    def counting(self):
        opened.append(1)
        return real(self)

    monkeypatch.setattr(_http.Client, "connect", counting)
    with poold.Pool() as p:
        for i in range(50):
            assert p.apply("sqr", (i,)) == i * i
        assert p.map("sqr", [1, 2, 3]) == [1, 4, 9]
        assert list(p.imap("sqr", [1, 2])) == [1, 4]
    assert len(opened) == 1


def test_a_callback_that_raises_does_not_stop_the_others(capfd):
    got = []

    def bad(value):
        raise RuntimeError("a broken callback")

    with poold.Pool() as p:
        first = p.apply_async("sqr", (2,), callback=bad)
        second = p.apply_async("sqr", (3,), callback=got.append)
        assert first.get(timeout=10) == 4 and second.get(timeout=10) == 9
    assert got == [9]
    assert "a broken callback" in capfd.readouterr().err


def test_callbacks_run_in_one_thread_in_the_order_results_arrive(server):
    server.workers_idle()
    order, threads = [], set()

    def note(value):
        order.append(value)
        threads.add(threading.current_thread().name)

    with poold.Pool(2) as p:
        slow = p.apply_async("nap", (1.0,), callback=note)
        fast = [p.apply_async("nap", (0.1 * i,), callback=note) for i in range(1, 4)]
        slow.get(timeout=10)
        [r.get(timeout=10) for r in fast]
    assert order[-1] == 1.0 and sorted(order[:-1]) == [0.1, 0.2, 0.30000000000000004]
    assert len(threads) == 1 and threading.current_thread().name not in threads
    assert os.getpid()  # in this process, as Pool's callbacks are


def test_terminate_returns_promptly_when_the_server_stopped_answering(make_server):
    srv = make_server()
    p = poold.Pool(url=srv.url, api_key="")
    results = [p.apply_async("nap", (30,)) for _ in range(3)]
    deadline = time.monotonic() + 10
    while not all(r._job for r in results) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    srv.signal(signal.SIGSTOP)  # connections still open, nothing answered
    try:
        began = time.monotonic()
        p.terminate()
        took = time.monotonic() - began
        p.join()
    finally:
        srv.signal(signal.SIGCONT)
    assert took < 3.5, took
    for r in results:
        with pytest.raises(poold.Cancelled):
            r.get(1)


def test_a_short_job_behind_long_ones_is_seen_at_once(make_server):
    # More of this pool's jobs run on the server than it has pollers
    # (Pool(1): two): the short one's end is seen as it ends, not after
    # a long poll on a long one.
    srv = make_server(processes=4)
    srv.workers_idle()
    p = poold.Pool(1, url=srv.url, api_key="")
    try:
        longs = [p.apply_async("nap", (8,)) for _ in range(3)]
        time.sleep(0.3)
        called = []
        began = time.monotonic()
        short = p.apply_async("nap", (0.2,), callback=lambda v: called.append(time.monotonic() - began))
        assert short.get(10) == 0.2
        assert called and called[0] < 1.2, called
        assert not any(r.ready() for r in longs)
    finally:
        p.terminate()
        p.join()
