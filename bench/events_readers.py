"""bench/events_readers.py: the event stream's side of bench/events.sh.

readers URL N [QUERY]: holds N GET /v1/events streams open (with QUERY,
such as "?type=job.succeeded") and reads them all (as N dashboards
would), until killed.
latency URL N: submits N short jobs one after the other, each once the
last one's end was read, and prints the median and the 99th percentile of
the time from a job's end (its job.succeeded event's "time", stamped as
poold ends it) to that event's arrival at a reader, in milliseconds.
"""
import json
import selectors
import socket
import sys
import time
import urllib.request
from urllib.parse import urlparse


def open_stream(url, query=""):
    u = urlparse(url)
    s = socket.create_connection((u.hostname, u.port))
    s.sendall(f"GET /v1/events{query} HTTP/1.1\r\nHost: {u.hostname}\r\n\r\n".encode())
    return s


def readers(url, n, query=""):
    sel = selectors.DefaultSelector()
    for _ in range(n):
        s = open_stream(url, query)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if not key.fileobj.recv(65536):
                sel.unregister(key.fileobj)


def latency(url, n):
    s = open_stream(url, "?type=job.succeeded")
    buf = b""
    lat = []
    for _ in range(n):
        req = urllib.request.Request(url + "/v1/apply_async", data=b'{"func":"sleep","args":[0.01]}',
                                     headers={"Content-Type": "application/json"})
        job = json.load(urllib.request.urlopen(req))["id"]
        while True:
            i = buf.find(b"\ndata: ")
            j = buf.find(b"\n", i + 1) if i >= 0 else -1
            if j < 0:
                buf += s.recv(65536)
                continue
            now = time.time()
            ev = json.loads(buf[i + 7:j])
            buf = buf[j + 1:]
            if ev.get("job") == job:
                lat.append((now - ev["time"]) * 1e3)
                break
    lat.sort()
    print(f"{lat[len(lat) // 2]:.3f} {lat[int(len(lat) * 0.99)]:.3f}")


if __name__ == "__main__":
    {"readers": readers, "latency": latency}[sys.argv[1]](sys.argv[2], int(sys.argv[3]), *sys.argv[4:])
