"""A test double of a warm runtime (docs/worker-protocol.md), for
tests/http/http_runtime_faults.c:

    python3 fake_runtime.py MODE

It serves one function, fake_MODE. Described (POOLD_DESCRIBE=1) it says
ready and exits 0, as a runtime should, so that poold starts; it breaks
the protocol only when it serves, the way MODE says:

    good       answers each request: per item, [its args, kwds, $FAKE_TAG,
               its cwd, $POOLD_WORKER_NAME, $POOLD_PROTOCOL, the POOLD_*
               variables it was given but should not have been]; sleeps
               kwds["sleep"] seconds first when there is one
    garbage    a line that is not JSON, for the answer
    wrongid    the answer, with another request's id
    huge       an answer longer than any --max-result the tests give
    idle       answers, then writes a frame while no task runs
    exit       exits with status 7 once it has the request
    silent     never answers
    short      an answer with no result for its one item
    notoutcome an answer whose result is neither {"r": ...} nor {"e": ...}
    restart    says its one item started again and again, to outrun the
               timeout
    values     answers a map with bare values ({"id", "values"}, the
               Python runtime's fast answer), written as its first item
               says (values_line): right, or broken in one way

These fail at the description itself (poold's start-up errors):

    badready   its first frame is not {"ready": ...}
    nothing    ready, serving no function
    hang       never says ready
"""
import json
import os
import sys
import time


def write(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def ready(mode):
    fns = [] if mode == "nothing" else [{"name": "fake_" + mode, "doc": f"the fake runtime, mode {mode}"}]
    if mode == "badready":
        write({"hello": "I am not ready"})
    elif mode == "hang":
        time.sleep(3600)
    else:
        write({"ready": {"protocol": 1, "pid": os.getpid(), "functions": fns}})


def good(req):
    if "map" in req:
        items = [([x], {}) for x in req["map"]]
    elif "starmap" in req:
        items = [(list(x), {}) for x in req["starmap"]]
    else:
        items = [(req.get("args", []), req.get("kwds", {}))]
        time.sleep(req.get("kwds", {}).get("sleep", 0))
    leaked = sorted(k for k in os.environ if k.startswith("POOLD_")
                    and k not in ("POOLD_WORKER_NAME", "POOLD_PROTOCOL"))
    return [{"r": [a, k, os.environ.get("FAKE_TAG"), os.getcwd(), os.environ.get("POOLD_WORKER_NAME"),
                   os.environ.get("POOLD_PROTOCOL"), leaked]} for a, k in items]


def values_line(rid, items):
    """Mode values: the answer to a map of items, the values being the
    items themselves, in the shape items[0] names."""
    def text(values, sep=(",", ":")):
        return json.dumps(values, separators=sep)
    how, shapes = items[0], {
        "plain": '{"id":%d,"values":%s}',        # the shape poold takes as text
        "spaced": '{ "id" : %d , "values" : %s }',  # the same, for jansson
        "tail": '{"id":%d,"values":%s}}',         # trailing garbage
        "wrongid": '{"id":%d0,"values":%s}',      # another request's id
    }
    if how == "plain":  # the last as 1.0E+2: taken as text, it stays so; parsed, 100.0
        return shapes[how] % (rid, text(items[:-1])[:-1] + ",1.0E+2]")
    if how in shapes:
        return shapes[how] % (rid, text(items, None if how == "spaced" else (",", ":")))
    if how == "second":  # "values" first, then "id"
        return '{"values":%s,"id":%d}' % (text(items), rid)
    if how == "twice":  # the key twice: jansson keeps the last
        return '{"id":%d,"values":%s,"values":%s}' % (rid, text(["first"] * len(items)), text(items))
    if how == "deep":  # nested deeper than the scanner follows
        return '{"id":%d,"values":%s}' % (rid, text(items[:-1] + [json.loads("[" * 40 + "1" + "]" * 40)]))
    if how == "few":
        return '{"id":%d,"values":%s}' % (rid, text(items[:-1]))
    if how == "more":
        return '{"id":%d,"values":%s}' % (rid, text(items + [0]))
    if how == "wide":  # an int past 64 bits
        return '{"id":%d,"values":%s}' % (rid, text(items[:-1] + [1 << 64]))
    if how == "huge":  # past the frame's bound, --max-result an item
        return '{"id":%d,"values":%s}' % (rid, text(["x" * (600 << 10)] * len(items)))
    raise ValueError(how)


def serve(mode):
    for line in sys.stdin:
        req = json.loads(line)
        rid = req["id"]
        print(f"fake {mode} got request {rid}", file=sys.stderr, flush=True)
        if mode == "garbage":
            sys.stdout.write("this is not a frame\n")
            sys.stdout.flush()
        elif mode == "wrongid":
            write({"id": rid + 1000, "results": [{"r": 1}]})
        elif mode == "huge":
            write({"id": rid, "results": [{"r": "x" * (4 << 20)}]})
        elif mode == "exit":
            os._exit(7)
        elif mode == "silent":
            time.sleep(3600)
        elif mode == "short":
            write({"id": rid, "results": []})
        elif mode == "restart":
            for _ in range(50):
                write({"id": rid, "started": 1})
                time.sleep(0.1)
        elif mode == "values":
            sys.stdout.write(values_line(rid, req["map"]) + "\n")
            sys.stdout.flush()
        elif mode == "notoutcome":
            write({"id": rid, "results": [{"value": 1}]})
        else:
            write({"id": rid, "results": good(req)})
            if mode == "idle":
                time.sleep(0.2)
                write({"id": rid, "results": [{"r": "again"}]})
    return 0


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "good"
    ready(mode)
    if os.environ.get("POOLD_DESCRIBE") == "1":
        return 0
    return serve(mode)


if __name__ == "__main__":
    sys.exit(main())
