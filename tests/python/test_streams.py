"""imap, imap_unordered and map over iterators: the items stream to poold
as NDJSON from any iterable without being materialised, the answers are
read as they come, next(timeout) waits no longer than asked."""
import itertools
import json
import signal
import threading
import time
import tracemalloc
import urllib.request

import pytest

import poold
from conftest import API_KEY
from poold import _remote
from poold import pool as pool_module


@pytest.fixture
def pool(server):
    server.workers_idle()  # both workers up: the timings below count on them
    p = poold.Pool()
    yield p
    p.terminate()
    p.join()


def queue_of(server):
    request = urllib.request.Request(server.url + "/v1/pool", headers={"Authorization": "Bearer " + API_KEY})
    return json.load(urllib.request.urlopen(request, timeout=5))["queue"]


def test_a_generator_streams_in_flat_memory(pool):
    count = 20000
    items = ("x" * 1000 + str(i) for i in range(count))  # 20 MB, were it a list
    tracemalloc.start()
    try:
        total = sum(pool.imap("strlen", items, chunksize=500))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == sum(1000 + len(str(i)) for i in range(count))
    assert peak < 8 << 20, peak


def test_map_over_a_long_iterator_streams_it_and_keeps_the_order(pool):
    n = pool_module.PREFIX * 3 + 7
    assert pool.map("sqr", (i for i in range(n))) == [i * i for i in range(n)]
    assert pool.map("sqr", iter(range(5))) == [0, 1, 4, 9, 16]  # short: one call


def test_map_falls_back_to_a_stream_past_the_queue(make_server):
    srv = make_server("--max-queue", "10")
    p = poold.Pool(url=srv.url, api_key="")
    # 100 tasks of one item: more than --max-queue holds in one call (400
    # for /v1/map), which a stream takes as room frees.
    assert p.map("sqr", list(range(100)), chunksize=1) == [i * i for i in range(100)]
    p.terminate()


def test_next_with_a_timeout_waits_no_longer_and_loses_nothing(pool):
    it = pool.imap("nap", [1.0, 0.0])
    began = time.monotonic()
    with pytest.raises(poold.TimeoutError):
        it.next(timeout=0.2)
    assert time.monotonic() - began < 0.8
    assert it.next(timeout=10) == 1.0
    assert it.next(timeout=10) == 0.0
    with pytest.raises(StopIteration):
        it.next(timeout=10)


def test_imap_unordered_gives_each_result_as_it_comes(pool):
    assert list(pool.imap_unordered("nap", [1.0, 0.1])) == [0.1, 1.0]
    assert list(pool.imap("nap", [0.5, 0.1])) == [0.5, 0.1]


def test_an_imap_dropped_midway_stops_its_work(server, pool):
    it = pool.imap("nap", [0.3] * 40)
    assert next(it) == 0.3
    del it  # nobody reads the rest: poold drops it
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and queue_of(server)["running"]:
        time.sleep(0.1)
    assert queue_of(server)["running"] == 0
    assert pool.apply("sqr", (3,)) == 9


def test_terminate_ends_a_stream_being_read(pool):
    it = pool.imap("nap", [0.1, 3.0])
    assert next(it) == 0.1
    pool.terminate()
    with pytest.raises(poold.Cancelled):
        next(it)


def test_an_item_json_cannot_carry_ends_the_items_there(pool):
    it = pool.imap("identity", [1, 2, object(), 4])
    assert [next(it), next(it)] == [1, 2]
    with pytest.raises(TypeError):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_chunksize_past_poolds_bound_is_taken(pool):
    assert list(pool.imap("sqr", range(30), chunksize=100000)) == [i * i for i in range(30)]
    with pytest.raises(ValueError):
        pool.imap("sqr", range(3), chunksize=0)


def test_a_slice_of_an_endless_iterator(pool):
    assert list(pool.imap("sqr", itertools.islice(itertools.count(), 1000), 50)) == [i * i for i in range(1000)]


def test_every_map_succeeds_past_the_queue_and_the_body_bounds(make_server):
    srv = make_server("--max-queue", "10", "--max-body", "4K")
    p = poold.Pool(url=srv.url, api_key="")
    try:
        # 100 tasks of one item: more than --max-queue holds in one call.
        expect = [i * i for i in range(100)]
        assert p.starmap("mul", [(i, i) for i in range(100)], chunksize=1) == expect
        assert p.map_async("sqr", list(range(100)), chunksize=1).get(30) == expect
        assert p.starmap_async("mul", [(i, i) for i in range(100)], chunksize=1).get(30) == expect
        # A body past --max-body (4 KiB): 413 for one call.
        words = ["w%04d" % i for i in range(1000)]
        assert p.map("identity", words) == words
        assert p.starmap("add", [(w, "!") for w in words]) == [w + "!" for w in words]
        assert p.map_async("identity", words).get(30) == words
        assert p.starmap_async("add", [(w, "!") for w in words]).get(30) == [w + "!" for w in words]
        with pytest.raises(ValueError):  # a function's error still fails the call
            p.starmap("to_int", [("1",)] * 50 + [("x",)], chunksize=1)
    finally:
        p.terminate()


def test_a_starmap_past_the_queue_names_the_failing_item_by_its_index_in_the_whole(make_server):
    srv = make_server("--max-queue", "10")
    p = poold.Pool(url=srv.url, api_key="")
    try:
        for call in (lambda items: p.starmap("divide", items, chunksize=1),
                     lambda items: p.starmap_async("divide", items, chunksize=1).get(30)):
            with pytest.raises(ZeroDivisionError) as caught:
                call([(1, 1)] * 50 + [(1, 0)] + [(1, 1)] * 9)  # in parts of 10 tasks: the sixth's first
            assert caught.value.index == 50
    finally:
        p.terminate()


def slow_items(count, every):
    for i in range(count):
        time.sleep(every)
        yield i


@pytest.mark.parametrize("method", ["imap", "imap_unordered"])
def test_results_flow_while_a_slow_generator_is_read(pool, method):
    # Pool gives each result about when its item came (0.4, 0.8, ... s);
    # nothing waits for the generator's end.
    began = time.monotonic()
    got = [(value, time.monotonic() - began) for value in getattr(pool, method)("sqr", slow_items(6, 0.4))]
    assert sorted(value for value, _ in got) == [i * i for i in range(6)]
    assert got[0][1] < 1.2, got  # the generator ends at 2.4 s
    for i, (_, when) in enumerate(got):
        assert when < 0.4 * (i + 1) + 0.8, got


def test_an_endless_generator_gives_results(pool):
    def endless():
        for i in itertools.count():
            time.sleep(0.01)
            yield i
    it = pool.imap("sqr", endless())
    assert [it.next(timeout=5) for _ in range(50)] == [i * i for i in range(50)]
    unordered = pool.imap_unordered("sqr", endless(), 5)
    assert sorted(unordered.next(timeout=5) for _ in range(10)) != []
    del it, unordered  # poold drops the rest


@pytest.mark.parametrize("exc_class", [SystemExit, KeyboardInterrupt, GeneratorExit])
def test_an_iterable_raising_a_base_exception_raises_it_in_the_caller(pool, exc_class):
    def stops():
        yield 1
        yield 2
        raise exc_class("from the generator")
    for method in ("imap", "imap_unordered"):
        it = getattr(pool, method)("sqr", stops())
        got = []
        with pytest.raises(exc_class):
            for _ in range(3):
                got.append(it.next(timeout=10))  # never a hang: a TimeoutError would fail here
        assert sorted(got) == [1, 4]
    big = itertools.chain(range(pool_module.PREFIX + 5), stops())
    with pytest.raises(exc_class):
        pool.map("sqr", big)


def test_a_full_queue_is_tried_again_for_streams(make_server, fill_queue):
    srv = make_server("--max-queue", "1", processes=1)
    p = poold.Pool(1, url=srv.url, api_key="")
    try:
        for method, fn in (("imap", list), ("imap_unordered", sorted)):
            fill_queue(srv.url, 0.3)
            began = time.monotonic()
            assert fn(getattr(p, method)("sqr", [1, 2, 3])) == [1, 4, 9]  # a 503, then room
            assert time.monotonic() - began > 0.5
        fill_queue(srv.url, 0.3)
        assert p.map("sqr", (i for i in range(pool_module.PREFIX + 3)))[-1] == (pool_module.PREFIX + 2) ** 2
    finally:
        p.terminate()


def test_a_long_map_goes_in_parts_at_once_and_keeps_the_order(pool, monkeypatch):
    monkeypatch.setattr(pool_module, "PART_ITEMS", 700)
    monkeypatch.setattr(pool_module, "THREADS", 3)
    sent, lock = [], threading.Lock()
    under_way = [0, 0]  # now, most at once
    one = pool._map_one

    def counted(name, items, chunksize, *rest):
        with lock:
            sent.append(len(items))
            under_way[0] += 1
            under_way[1] = max(under_way)
        try:
            time.sleep(0.05)  # long enough for the other threads to take theirs
            return one(name, items, chunksize, *rest)
        finally:
            with lock:
                under_way[0] -= 1

    monkeypatch.setattr(pool, "_map_one", counted)
    n = 2503
    assert pool.map("sqr", range(n), chunksize=100) == [i * i for i in range(n)]
    # Parts of whole chunks, about PART_ITEMS: 700 items (7 chunks of 100), the rest last;
    # THREADS of them at once, no more.
    assert sorted(sent) == [403, 700, 700, 700] and under_way[1] == 3
    sent.clear()
    assert pool.map("sqr", list(range(n))) == [i * i for i in range(n)]
    assert len(sent) >= 2 and sum(sent) == n
    sent.clear()
    assert pool.map("identity", ["w%d" % i for i in range(n)]) == ["w%d" % i for i in range(n)]
    assert len(sent) >= 2
    sent.clear()
    assert pool.map("sqr", range(1299), chunksize=100) == [i * i for i in range(1299)]
    assert sent == [1299]  # less than two parts: one call


def test_a_long_maps_first_failing_item_in_order_is_raised_with_its_place(pool, monkeypatch):
    monkeypatch.setattr(pool_module, "PART_ITEMS", 500)
    monkeypatch.setattr(pool_module, "THREADS", 2)  # fewer threads than parts: each takes several
    texts = [str(i) for i in range(2000)]
    texts[1900] = "late"   # the last part
    texts[1100] = "early"  # the third part: raised, though every part runs
    with pytest.raises(ValueError) as caught:
        pool.map("to_int", texts, chunksize=50)
    assert caught.value.index == 1100 and "early" in str(caught.value)


def test_ctrl_c_in_a_long_map_raises_at_once_and_poold_drops_its_parts(pool, monkeypatch):
    monkeypatch.setattr(pool_module, "PART_ITEMS", 500)
    # pytest runs a test in the main thread, where Python raises KeyboardInterrupt.
    # Ctrl-C every 0.5 s until the map ends, as a user would press it: in about
    # one run of the whole suite in five, the first SIGINT was not raised (not
    # seen in a run of this file alone, nor with a thread dump armed).
    ended = threading.Event()

    def press():
        while not ended.wait(0.5):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    presser = threading.Thread(target=press, daemon=True)
    began = time.monotonic()
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.map("nap", [0.01] * 2000, chunksize=10)  # 20 s of naps: 10 s on 2 workers
    finally:
        ended.set()
        presser.join()
    assert time.monotonic() - began < 3  # not after the other parts' end
    began = time.monotonic()
    assert pool.apply("sqr", (3,)) == 9  # the parts' chunks were dropped, not left ahead of it
    assert time.monotonic() - began < 3


def test_once_a_long_map_is_interrupted_its_threads_start_no_more_parts(pool, monkeypatch):
    monkeypatch.setattr(pool_module, "PART_ITEMS", 100)
    monkeypatch.setattr(pool_module, "THREADS", 2)
    calls = []
    one = pool._map_one

    def part(name, items, chunksize, *rest):
        calls.append(threading.current_thread())
        if threading.current_thread() is threading.main_thread():
            time.sleep(0.3)  # the other thread's part under way
            raise KeyboardInterrupt  # Ctrl-C in the caller's own part
        return one(name, items, chunksize, *rest)

    monkeypatch.setattr(pool, "_map_one", part)
    with pytest.raises(KeyboardInterrupt):
        pool.map("nap", [0.05] * 2000, chunksize=10)  # 20 parts of 2.5 s
    time.sleep(0.5)  # what the other thread does after the abort
    # One part each, then none: not the 18 others, each encoded and refused.
    assert len(calls) == 2


def test_a_long_map_past_the_queue_goes_as_one_call_not_parts_that_wait_on_each_other(make_server, monkeypatch):
    srv = make_server("--max-queue", "10")
    monkeypatch.setattr(pool_module, "PART_ITEMS", 500)
    monkeypatch.setattr(_remote, "RETRY_BUDGET", 0.5)  # a part refused as the queue is full would fail at once
    p = poold.Pool(url=srv.url, api_key="")
    try:
        # Parts of 10 tasks, 8 at once: more than the queue holds, so one call, in 10 at once.
        assert p.map("nap", [0.002] * 2000, chunksize=50) == [0.002] * 2000
        assert p.map("sqr", range(2000), chunksize=500) == [i * i for i in range(2000)]  # 4 tasks: in parts
    finally:
        p.terminate()
