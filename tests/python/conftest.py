"""The client's tests run against real poold servers: the binary at
$POOLD_BIN (build/poold by default), each on a free 127.0.0.1 port,
serving tests/python/fns.py (or a seed's program) from the warm Python
runtime, stopped by its PID. A server's log stays in pytest's temporary
directory."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, "python"))
POOLD_BIN = os.path.abspath(os.environ.get("POOLD_BIN") or os.path.join(ROOT, "build", "poold"))
SANITIZED = os.environ.get("POOLD_SANITIZED") == "1"
FNS = os.path.join(HERE, "fns.py")
API_KEY = "pyclient-test-key"


# A sanitizer's report in a poold's log fails the test that stopped it, as
# tests/lib/server.c has it for the C tests.
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "AddressSanitizer:DEADLYSIGNAL", "ERROR: LeakSanitizer",
                     ": runtime error: ", "UndefinedBehaviorSanitizer:DEADLYSIGNAL")


class Server:
    """One poold: start() waits until /readyz says a call would run."""

    def __init__(self, tmp, *args, python=FNS, processes=2, tls=False):
        self.dir = tmp
        self.args = ["--host", "127.0.0.1", "--port", "0", "--processes", str(processes),
                     "--data-dir", os.path.join(tmp, "data"), "--shutdown-grace", "1", "--python", python,
                     *args]
        self.log_path = os.path.join(tmp, "poold.log")
        self.proc = None
        self.url = None
        self.tls = tls  # poold serves https: readiness is read from its log

    def start(self, wait=30.0):
        log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.pop("POOLD_API_KEY", None)  # poold would take it as its own --api-key
        self.proc = subprocess.Popen([POOLD_BIN, *self.args], stdout=log, stderr=log, env=env,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + wait
        while self.url is None:
            self._check_running(deadline)
            found = re.search(r"listening on (https?://127\.0\.0\.1:\d+)", self.log())
            if found:
                self.url = found.group(1)
            time.sleep(0.05)
        while not self.ready():
            self._check_running(deadline)
            time.sleep(0.05)
        return self

    def _check_running(self, deadline):
        if self.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("poold did not start (%s):\n%s" % (self.proc.poll(), self.log()[-3000:]))

    def ready(self):
        if self.tls:
            return self.log().count(" ready, ") >= 1
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def workers_idle(self, wait=15.0):
        """Waits until every worker is up and idle (a replaced one takes a
        while to start its runtime), for the tests that time the workers."""
        deadline = time.monotonic() + wait
        request = urllib.request.Request(self.url + "/v1/pool", headers={"Authorization": "Bearer " + API_KEY})
        while time.monotonic() < deadline:
            with urllib.request.urlopen(request, timeout=5) as answer:
                workers = json.load(answer)["workers"]
            if workers and all(w["state"] == "idle" for w in workers):
                return
            time.sleep(0.05)
        raise AssertionError("poold's workers are not idle: %r" % workers)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self):
        """SIGTERM by PID, SIGKILL if it lingers; a stopped (SIGSTOP) one
        is continued first."""
        if self.proc is None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(5)
        reports = [r for r in SANITIZER_REPORTS if r in self.log()]
        assert not reports, "a sanitizer reported %s: see %s" % (reports, self.log_path)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The suite's poold: fns.py, 2 workers, a 3 s task timeout, a key."""
    srv = Server(str(tmp_path_factory.mktemp("main")), "--task-timeout", "3", "--api-key", API_KEY)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path_factory):
    """Starts servers of a test's own, stopped at its end."""
    started = []

    def make(*args, **kw):
        srv = Server(str(tmp_path_factory.mktemp("own")), *args, **kw)
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(autouse=True)
def pool_env(server, monkeypatch):
    """Pools made without url= or api_key= find the suite's server."""
    monkeypatch.setenv("POOLD_URL", server.url)
    monkeypatch.setenv("POOLD_API_KEY", API_KEY)


def _fill_queue(url, seconds):
    """Posts nap jobs until poold answers 503: its queue is full (with
    --max-queue 1 and one worker: one runs, one waits)."""
    for _ in range(30):
        request = urllib.request.Request(url + "/v1/apply_async", data=json.dumps(
            {"func": "nap", "args": [seconds]}).encode(), headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=5).close()
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
            return
    pytest.fail("poold's queue never filled")


@pytest.fixture
def fill_queue():
    """fill_queue(url, seconds): a server's queue filled with nap jobs."""
    return _fill_queue


@pytest.fixture
def fast_heartbeat(monkeypatch):
    """Short liveness checks, for the tests of servers that go away."""
    from poold import _http
    monkeypatch.setattr(_http, "HEARTBEAT", 0.5)
    monkeypatch.setattr(_http, "PROBE_TIMEOUT", 1.0)
    monkeypatch.setattr(_http, "CONNECT_TIMEOUT", 2.0)
