"""The soak's own load, beside wrk's: async jobs with webhooks to a receiver
here, imap streams, cancels and worker kills, for SECONDS seconds against
the poold at URL, whose main process is PID. Samples the RSS and file
descriptors of PID once a minute. Prints one JSON object: answers by status
for each kind of call, callbacks received and expected, and the samples.

    python3 tests/soak/driver.py URL PID SECONDS
"""
import collections
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from procs import rss_kb, tree_rss_kb

URL, PID, SECONDS = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
HOST = urllib.parse.urlparse(URL).hostname
PORT = urllib.parse.urlparse(URL).port
END = time.monotonic() + SECONDS

lock = threading.Lock()
statuses = collections.defaultdict(collections.Counter)  # kind -> status -> n
callbacks = collections.Counter()                       # job id -> deliveries
expected = set()                                        # ids whose callback must come
problems = []


def count(kind, status):
    with lock:
        statuses[kind][status] += 1


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            job = json.loads(body)["data"]["id"]
            with lock:
                callbacks[job] += 1
        except (ValueError, KeyError, TypeError):
            problems.append("a callback that is not a job: %r" % body[:200])
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def call(conn, method, path, body=None):
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    r = conn.getresponse()
    return r.status, r.read()


def loop(kind, step):
    """Runs step(conn) until the end; a connection error starts a new one."""
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    while time.monotonic() < END:
        try:
            step(conn)
        except (OSError, http.client.HTTPException) as e:
            count(kind, "connection error: %s" % type(e).__name__)
            conn.close()
            conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
            time.sleep(0.05)
    conn.close()


def async_jobs(hook):
    def step(conn):
        status, body = call(conn, "POST", "/v1/apply_async",
                            json.dumps({"func": "sleep", "args": [0.01], "callback": hook}))
        count("apply_async", status)
        if status == 202:
            job = json.loads(body)["id"]
            with lock:
                expected.add(job)
            status, _ = call(conn, "GET", "/v1/jobs/%s/result?timeout=10" % job)
            count("result", status)
    loop("apply_async", step)


def streams():
    items = "\n".join(str(i) for i in range(200))

    def step(conn):
        conn.request("POST", "/v1/imap", body='{"func":"echo","chunksize":10}\n' + items + "\n",
                     headers={"Content-Type": "application/x-ndjson"})
        r = conn.getresponse()
        lines = [l for l in r.read().split(b"\n") if l]
        count("imap", r.status)
        if r.status == 200 and len(lines) != 200:
            # A killed worker's items come back as error lines: still 200 lines.
            problems.append("an imap stream of %d lines, not 200" % len(lines))
    loop("imap", step)


def cancels():
    def step(conn):
        status, body = call(conn, "POST", "/v1/apply_async", '{"func":"sleep","args":[1]}')
        count("apply_async (to cancel)", status)
        if status == 202:
            status, _ = call(conn, "DELETE", "/v1/jobs/%s" % json.loads(body)["id"])
            count("delete", status)
        time.sleep(0.1)
    loop("delete", step)


def kills():
    """kill -9 a worker every 15 s: its calls answer 502, the pool replaces it."""
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    while time.monotonic() < END - 5:
        time.sleep(15)
        try:
            status, body = call(conn, "GET", "/v1/pool")
            pids = [w["pid"] for w in json.loads(body)["workers"] if w["pid"] > 0]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                count("kill -9", "sent")
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            conn.close()
            conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    conn.close()


def sample():
    out = []
    began = time.monotonic()
    while True:
        out.append({"t": round(time.monotonic() - began), "rss_kb": rss_kb(PID),
                    "tree_rss_kb": tree_rss_kb(PID), "fds": len(os.listdir("/proc/%d/fd" % PID))})
        if time.monotonic() + 60 > END:
            return out
        time.sleep(60)


def main():
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    receiver.daemon_threads = True
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = "http://127.0.0.1:%d/hook" % receiver.server_address[1]
    samples = []
    workers = [threading.Thread(target=f, args=a) for f, a in
               [(async_jobs, (hook,)), (async_jobs, (hook,)), (streams, ()), (cancels, ()), (kills, ())]]
    workers.append(threading.Thread(target=lambda: samples.extend(sample())))
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    # The last callbacks may still be on their way (retries back off).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with lock:
            missing = [j for j in expected if callbacks[j] == 0]
        if not missing:
            break
        time.sleep(0.5)
    receiver.shutdown()
    with lock:
        report = {
            "statuses": {k: {str(s): n for s, n in c.items()} for k, c in statuses.items()},
            "callbacks_expected": len(expected),
            "callbacks_missing": len([j for j in expected if callbacks[j] == 0]),
            "callbacks_received": sum(callbacks.values()),
            "samples": samples,
            "problems": problems[:20],
        }
    print(json.dumps(report))


main()
