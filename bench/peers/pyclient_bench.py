"""bench/pyclient.sh's measures: poold.Pool beside multiprocessing.Pool(2),
the same function, in one run. This file is both sides: poold serves it
(poold --python bench/peers/pyclient_bench.py: its echo is a poold
function, hiding the C built-in), and run as a program it measures,
printing one line per figure of the side it is given: NAME VALUE.

    POOLD_URL=... PYTHONPATH=python python3 bench/peers/pyclient_bench.py poold MAP_ITEMS BUILTIN_URL
    python3 bench/peers/pyclient_bench.py pool MAP_ITEMS
"""
import multiprocessing
import statistics
import sys
import time


def echo(x):
    """echo(x): x"""
    return x


def _p50_apply(pool, n):
    for _ in range(200):
        pool.apply(echo, (1,))
    times = []
    for _ in range(n):
        began = time.perf_counter()
        pool.apply(echo, (1,))
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e6


def _bare_p50(url, n):
    """The floor: the same apply's p50 over a bare socket, no client."""
    import socket
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = b'{"func":"echo","args":[1]}'
    request = b"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" \
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    times = []
    for i in range(n + 200):
        began = time.perf_counter()
        sock.sendall(request)
        got = b""
        while not got.endswith(b'{"result":1}'):
            got += sock.recv(4096)
        times.append(time.perf_counter() - began)
    sock.close()
    return statistics.median(times[200:]) * 1e6


def _best_map(pool, items):
    # One untimed first, for each side: the first map of a million in a
    # process faults in its memory (the caller's, poold's, its runtimes').
    pool.map(echo, range(items))
    best = None
    for _ in range(3):
        began = time.perf_counter()
        results = pool.map(echo, range(items))
        took = time.perf_counter() - began
        assert len(results) == items and results[-1] == items - 1
        best = took if best is None else min(best, took)
    return best


def _async_then_get(pool, n):
    pool.map(echo, range(100))
    began = time.perf_counter()
    results = [pool.apply_async(echo, (i,)) for i in range(n)]
    assert [r.get(timeout=600) for r in results][-1] == n - 1
    return time.perf_counter() - began


def _measure(pool, items, apply=True):
    figures = {"apply_p50_us": _p50_apply(pool, 2000)} if apply else {}
    figures["map_s"] = _best_map(pool, items)
    figures["async_s"] = _async_then_get(pool, 10000)
    return figures


def _poold_side(items, builtin_url):
    import os

    import poold

    with poold.Pool() as remote:
        # The bare socket's p50 right after the client's, on the same
        # server: what the client adds, under the same load.
        figures = {"apply_p50_us": _p50_apply(remote, 2000),
                   "apply_bare_p50_us": _bare_p50(os.environ["POOLD_URL"], 2000)}
        figures.update(_measure(remote, items, apply=False))
    # poold's C built-in echo on a server without --python, its jobs in
    # memory: the share the Python runtime and the SQLite store take.
    with poold.Pool(url=builtin_url) as builtin:
        figures["map_builtin_s"] = _best_map(builtin, items)
        figures["async_builtin_s"] = _async_then_get(builtin, 10000)
    return figures


if __name__ == "__main__":
    # Each side runs in a process of its own, as the program that uses it
    # would: in one process, the side measured second found the C
    # allocator's state the first left (its mmap threshold raised by the
    # first's large buffers), and Pool(2)'s map of a million took 0.16 s
    # after poold.Pool's, 0.25 s in a fresh process.
    side, items = sys.argv[1], int(sys.argv[2])
    if side == "poold":
        figures = _poold_side(items, sys.argv[3])
    else:
        with multiprocessing.Pool(2) as local:
            figures = _measure(local, items)
    for name, value in figures.items():
        print(name, "%.6f" % value)
