"""bench/cluster.sh's one driver, the same for poold and Celery: CLIENTS
processes (not threads: Celery's result consumer is not shared between
threads, and no side pays for the GIL), each submitting WINDOW echo jobs,
then reading their results, again and again. A job counts once its result
is read and checked. Prints the jobs per second (or, with --jobs, the
seconds N jobs took).

    cluster_driver.py poold URL[,URL...] [--seconds S | --jobs N] [--clients C] [--window W]
    cluster_driver.py celery REDIS_URL  ...

poold: POST /v1/apply_async {"func":"echo","args":[k]} (202), then
GET /v1/jobs/{id}/result?timeout=30 (a long poll), over one keep-alive
connection per replica, with a bare socket: the least an HTTP client can
cost. With several URLs a client sends its jobs round-robin over them, and
reads each result from the replica it submitted to.
Celery: app.send_task("celery_app.echo", (k,)), then AsyncResult.get(),
Celery's own client: what a Celery user pays.
"""
import argparse
import json
import multiprocessing
import socket
import sys
import time
from urllib.parse import urlsplit


class Http:
    """One keep-alive HTTP/1.1 connection; answers have a Content-Length."""

    def __init__(self, url):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, method, path, body=b""):
        self.sock.sendall(b"%s %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (method, path, len(body), body))
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self._recv(keep=False)
        self.buf = rest[length:]
        return int(head[9:12]), rest[:length]

    def _recv(self, keep=True):
        got = self.sock.recv(65536)
        if not got:
            raise ConnectionError("the server closed the connection")
        if keep:
            self.buf += got
        return got


def poold_client(urls):
    conns = [Http(u) for u in urls]
    turn = [0]

    def submit(k):
        c = conns[turn[0] % len(conns)]
        turn[0] += 1
        status, body = c.request(b"POST", b"/v1/apply_async", b'{"func":"echo","args":[%d]}' % k)
        if status != 202:
            raise RuntimeError("apply_async answered %d: %r" % (status, body[:300]))
        return c, json.loads(body)["id"].encode()

    def result(job):
        c, job_id = job
        status, body = c.request(b"GET", b"/v1/jobs/%s/result?timeout=30" % job_id)
        if status != 200:
            raise RuntimeError("result answered %d: %r" % (status, body[:300]))
        return json.loads(body)["result"]

    return submit, result


def celery_client(url):
    from celery import Celery
    app = Celery("cluster_driver", broker=url, backend=url)

    def submit(k):
        return app.send_task("celery_app.echo", (k,))

    def result(job):
        return job.get(timeout=30)

    return submit, result


def client(args, index, barrier, out):
    if args.kind == "poold":
        urls = args.target.split(",")
        submit, result = poold_client(urls[index % len(urls):] + urls[:index % len(urls)])
    else:
        submit, result = celery_client(args.target)
    # Warm: connections made, the worker's first task run.
    for k in range(3):
        assert result(submit(k)) == k
    barrier.wait()
    began = time.time()
    deadline = began + args.seconds if args.seconds else None
    quota = args.jobs // args.clients + (index < args.jobs % args.clients) if args.jobs else None
    done = 0
    while (deadline is None or time.time() < deadline) and (quota is None or done < quota):
        n = args.window if quota is None else min(args.window, quota - done)
        jobs = [(k, submit(k)) for k in range(done, done + n)]
        for k, job in jobs:
            got = result(job)
            if got != k:
                raise RuntimeError("job %d answered %r" % (k, got))
        done += n
    out.put((done, began, time.time()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("poold", "celery"))
    ap.add_argument("target")
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--window", type=int, default=16)
    args = ap.parse_args()
    if bool(args.seconds) == bool(args.jobs):
        ap.error("one of --seconds and --jobs")
    barrier = multiprocessing.Barrier(args.clients)
    out = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client, args=(args, i, barrier, out)) for i in range(args.clients)]
    for p in procs:
        p.start()
    got = []
    while len(got) < len(procs):
        try:
            got.append(out.get(timeout=1))
        except Exception:
            if any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.kill()
                sys.exit("cluster_driver: a client failed")
    for p in procs:
        p.join()
    done = sum(g[0] for g in got)
    took = max(g[2] for g in got) - min(g[1] for g in got)
    print("%.1f" % (done / took) if args.seconds else "%.3f" % took)


if __name__ == "__main__":
    main()
