"""What a Python user writes for this job: the standard library's
ThreadingHTTPServer in front of multiprocessing.Pool, one thread per
connection, each call a blocking pool.apply. The peer poold is measured
against in bench/compare.sh; it serves the same JSON as POST /v1/apply.

    python3 bench/peers/pool_server.py PORT [PROCESSES]
"""
import json
import multiprocessing
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def echo(x):
    return x


FUNCS = {"echo": echo, "pow": pow}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk and poold use
    # The headers and the body go out in two writes: without this, Nagle
    # and the client's delayed ACK hold every answer for 40 ms.
    disable_nagle_algorithm = True

    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            result = POOL.apply(FUNCS[body["func"]], body.get("args", []))
            status, out = 200, json.dumps({"result": result}).encode()
        except Exception as e:  # a bad call is the client's error
            status, out = 400, json.dumps({"title": str(e), "status": 400}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1])
    POOL = multiprocessing.Pool(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
