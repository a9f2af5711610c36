"""poold._jobs: a pool's async calls, as poold's jobs.

apply_async, map_async and starmap_async return at once. One submitter
thread posts their jobs to /v1/*_async in the order they were made, as
Pool's task handler queues them: whatever waits is sent together, the
requests pipelined on one connection (libmicrohttpd answers them in
order), each with an Idempotency-Key so that one sent again makes no
second job. Poller threads collect the outcomes from
/v1/jobs/{id}/result, the oldest jobs first (poold runs a pool's jobs in
the order they came, so the oldest are those that end next): a batch is
asked at once without waiting, and when none of it has ended, the oldest
job is waited on with a long poll (a short one while there are more jobs
than pollers, so that each is seen soon after it ends, in any order). Each outcome goes to the pool's one
result thread, which sets it and runs its callback, in the order
outcomes arrive, as Pool's result handler does. terminate() deletes the
jobs not ended (DELETE /v1/jobs/{id}: a queued job never runs, a running
one's worker is stopped).
"""
import collections
import json
import queue
import threading
import time
import uuid

from . import _http, _remote, errors

BATCH = 64  # requests pipelined together
POLL = 4.0  # seconds a long poll waits (under the heartbeat: no health check needed)
SHORT_POLL = 0.25  # seconds it waits while some job has no poller of its own
TERMINATE_WAIT = 2.0  # seconds terminate() gives poold to take its DELETEs


def _too_large(status, error):
    return status == 413 or (status == 400 and getattr(error, "field", None) == "chunksize")


class Jobs:
    """The threads and the state of one pool's async calls."""

    def __init__(self, remote, pollers):
        self.remote = remote
        self.client = remote.client
        self.lock = threading.Lock()
        self.to_submit = threading.Condition(self.lock)
        self.to_poll = threading.Condition(self.lock)
        self.idle = threading.Condition(self.lock)
        self.submits = collections.deque()  # (result, request, retry budget spent) not posted yet
        self.polls = collections.deque()  # results whose jobs run, oldest first
        self.live = set()  # results not set yet
        self.pending = 0  # results whose outcome was not found yet
        self.closing = False
        self.terminated = False
        self.outcomes = queue.SimpleQueue()
        self.finisher = self._start(self._finish_loop, "poold-results")
        self.submitter = self._start(self._submit_loop, "poold-submit")
        self.pollers = [self._start(self._poll_loop, "poold-poll") for _ in range(pollers)]

    @staticmethod
    def _start(target, name):
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def add(self, result, path, body, whole=None):
        """A call to post as a job; body is its JSON, or the exception its
        encoding raised (the result fails with it, as Pool's would). whole,
        when given, runs the call synchronously (a map as a stream, a
        starmap in parts) and returns its value: what a job poold refuses
        as too large (--max-queue, --max-body) does instead, on a thread
        of its own."""
        result._whole = whole
        with self.lock:
            if self.terminated:  # terminate() came after the pool's check
                result._set(False, errors.Cancelled("the pool was terminated"), callbacks=False)
                return
            self.live.add(result)
            self.pending += 1
            if isinstance(body, BaseException):
                self._outcome_locked(result, False, body)
                return
            key = b"Idempotency-Key: %s\r\n" % uuid.uuid4().hex.encode()
            request = self.client.head(b"POST", path, len(body), _remote.JSON + key) + body
            self.submits.append((result, request, 0.0))
            self.to_submit.notify()

    def _outcome_locked(self, result, success, value):
        if result._decided:
            return  # one outcome a result: the first
        result._decided = True
        result._whole = None
        self.pending -= 1
        if self.pending == 0 and self.closing:
            self.to_submit.notify_all()
            self.to_poll.notify_all()
        self.outcomes.put((result, success, value))

    def _outcome(self, result, success, value):
        with self.lock:
            self._outcome_locked(result, success, value)

    def _quit(self):
        return self.terminated or (self.closing and self.pending == 0)

    def _take(self, items, cond):
        """Up to BATCH of the oldest items, once there are any; None when
        the thread is to end."""
        with self.lock:
            while not items and not self._quit():
                cond.wait()
            if self.terminated or not items:
                return None
            return [items.popleft() for _ in range(min(BATCH, len(items)))]

    # --- posting the jobs ---

    def _guarded(self, step, batch, results):
        """Runs one step of a thread on a batch; an answer it cannot make
        sense of fails the batch's results rather than the thread (whose
        end would leave them waiting for ever)."""
        try:
            step(batch)
        except errors.Cancelled:
            pass  # terminated: terminate() sets every live result
        except Exception as exc:
            lost = self.client.lost("poold's answer was not understood: %r" % (exc,))
            for result in results:
                if not self.terminated:
                    self._outcome(result, False, lost)

    def _submit_loop(self):
        while (batch := self._take(self.submits, self.to_submit)) is not None:
            self._guarded(self._submit_batch, batch, [result for result, _, _ in batch])

    def _submit_batch(self, batch):
        answers, exc = self.client.pipeline([request for _, request, _ in batch])
        retry, delay = [], 0.0
        for (result, request, spent), (status, headers, data) in zip(batch, answers):
            if status == 202:
                self._posted(result, json.loads(data)["id"])
                continue
            error = self.remote.error(status, headers, data, result._func)
            wait = _remote.retry_after(headers)
            if result._whole is not None and _too_large(status, error):
                self._start(lambda r=result: self._run_whole(r), "poold-whole")
            elif status == 503 and spent + wait <= _remote.RETRY_BUDGET:
                retry.append((result, request, spent + wait))
                delay = max(delay, wait)
            elif not self.terminated:
                self._outcome(result, False, error)
        unanswered = batch[len(answers):]
        if exc is not None:
            for result, _, _ in unanswered:
                if not self.terminated:
                    self._outcome(result, False, exc)
            unanswered = []
        self._again(retry + unanswered, delay)

    def _run_whole(self, result):
        try:
            value = result._whole()
        except BaseException as exc:
            if not self.terminated:
                self._outcome(result, False, exc)
            return
        self._outcome(result, True, value)

    def _again(self, items, delay):
        """Puts items back at the head of the queue, after delay seconds."""
        if not items:
            return
        if delay and self.remote.stop.wait(delay):
            return  # terminated: terminate() sets every live result
        with self.lock:
            self.submits.extendleft(reversed(items))

    def _posted(self, result, job):
        with self.lock:
            result._job = job
            if not self.terminated:
                self.polls.append(result)
                self.to_poll.notify()
                return
        self._delete(result)  # terminate() came while it was posted

    # --- collecting the outcomes ---

    def _poll_loop(self):
        wait = max(0.1, min(POLL, _http.HEARTBEAT * 0.8))
        while (batch := self._take(self.polls, self.to_poll)) is not None:
            self._guarded(lambda b: self._poll_batch(b, wait), batch, batch)

    def _poll_batch(self, batch, wait):
        running = self._ask(batch, None) if len(batch) > 1 else batch
        if running and len(running) == len(batch):
            # None of them had ended: wait on the oldest, give the others
            # back for the other pollers. A long poll only while a poller
            # is left free for every other job: past that, a job that ends
            # while the pollers wait on others (a short one behind long
            # ones) would be seen POLL seconds late; short waits make the
            # pollers go round all of them.
            self._give_back(running[1:])
            if self.pending >= len(self.pollers):
                wait = min(wait, SHORT_POLL)
            running = self._ask(running[:1], wait)
        self._give_back(running)

    def _give_back(self, results):
        """Puts results back at the head of the polls, still the oldest."""
        if results:
            with self.lock:
                self.polls.extendleft(reversed(results))
                self.to_poll.notify(len(results))

    def _ask(self, batch, wait):
        """Asks for the outcomes of a batch's jobs, waiting `wait` seconds
        for one (None: no wait); returns those that had not ended."""
        query = b"" if wait is None else b"?timeout=%g" % wait
        requests = [self.client.head(b"GET", b"/v1/jobs/%s/result%s" % (r._job.encode(), query), 0)
                    for r in batch]
        answers, exc = self.client.pipeline(requests)
        running = []
        for result, (status, headers, data) in zip(batch, answers):
            if status == 202:
                running.append(result)
            elif status == 200:
                self._outcome(result, True, json.loads(data)["result"])
            else:
                self._outcome(result, False, self.remote.error(status, headers, data, result._func))
        for result in batch[len(answers):]:
            if exc is None:
                running.append(result)  # not asked yet
            elif not self.terminated:
                self._outcome(result, False, exc)
        return running

    def _finish_loop(self):
        while True:
            item = self.outcomes.get()
            if item is None:
                return
            result, success, value = item
            result._set(success, value)
            with self.lock:
                self.live.discard(result)
                if not self.live:
                    self.idle.notify_all()

    # --- close, terminate, join ---

    def close(self):
        """No new calls: the threads end once every result is set."""
        with self.lock:
            self.closing = True
            self.to_submit.notify_all()
            self.to_poll.notify_all()

    def _delete(self, result):
        try:
            self.client.request(b"DELETE", b"/v1/jobs/%s" % result._job.encode())
        except errors.RemoteError:
            return False
        return True

    def terminate(self):
        """Cancels every call not ended: those not posted are dropped, the
        jobs deleted on the server; their results fail with Cancelled (no
        callback runs), so that nothing waits on them for ever."""
        with self.lock:
            self.terminated = True
            self.submits.clear()
            self.to_submit.notify_all()
            self.to_poll.notify_all()
        # A server that stopped answering must not hold terminate() up:
        # what it has not taken in TERMINATE_WAIT is left (the pool then
        # closes its connections, which poold sees).
        deadline = time.monotonic() + TERMINATE_WAIT
        self.submitter.join(TERMINATE_WAIT)  # a batch under way: its thread deletes its jobs
        with self.lock:
            live = list(self.live)
        jobs = [r._job for r in live if r._job is not None and not r.ready()]
        for start in range(0, len(jobs), BATCH):
            requests = [self.client.head(b"DELETE", b"/v1/jobs/%s" % job.encode(), 0)
                        for job in jobs[start:start + BATCH]]
            if self.client.pipeline(requests, deadline)[1] is not None:
                break  # poold is gone or silent: nothing more to cancel there
        for result in live:
            result._set(False, errors.Cancelled("the pool was terminated before the call ended"),
                        callbacks=False)
        self.outcomes.put(None)

    def join(self):
        """Waits for every result (after close()), then for the threads."""
        with self.lock:
            while self.live and not self.terminated:
                self.idle.wait()
        if not self.terminated:
            self.outcomes.put(None)
        for thread in [self.finisher, self.submitter] + self.pollers:
            if thread is not threading.current_thread():
                thread.join()
