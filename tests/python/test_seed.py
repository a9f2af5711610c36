"""The seed's three programs (tests/python/seed/), unchanged but for the
import line, each served by a poold of its own with --python (its calc
hides poold's C built-in calc) and run as a program with POOLD_URL set:
their printed results, and their timing shape."""
import os
import re
import subprocess
import sys
import time

from conftest import HERE, ROOT

SEED = os.path.join(HERE, "seed")
LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): (.*)$")


def run_seed(make_server, name):
    """Serves seed/NAME.py, runs it; returns (stdout lines, seconds, server)."""
    path = os.path.join(SEED, name + ".py")
    srv = make_server(python=path, processes=2)
    env = dict(os.environ, POOLD_URL=srv.url, PYTHONPATH=os.path.join(ROOT, "python"))
    env.pop("POOLD_API_KEY", None)
    began = time.monotonic()
    done = subprocess.run([sys.executable, path], env=env, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), took, srv


def messages(lines):
    return [LINE.match(line).group(2) if LINE.match(line) else line for line in lines]


def test_seed_apply_four_calls_of_one_second_take_four_seconds(make_server):
    lines, took, srv = run_seed(make_server, "apply")
    said = messages(lines)
    assert said[0].startswith("main pid: ")
    assert said[1:5] == ["result%d: 10000000000" % i for i in range(1, 5)]
    assert said[5:] == ["End program"]
    # apply blocks: one call after the other, a second each.
    assert 3.9 <= took < 7.0, took
    # calc ran on the server's workers, which logged it under their names.
    started = re.findall(r"calc started in process (ForkPoolWorker-\d+) with pid \d+", srv.log())
    assert len(started) == 4 and all(name.startswith("ForkPoolWorker-") for name in started)


def test_seed_map_of_four_on_two_workers_takes_two_seconds(make_server):
    lines, took, srv = run_seed(make_server, "map")
    said = messages(lines)
    assert said[0].startswith("main pid: ")
    assert said[1:] == ["[1, 1024, 9765625, 10000000000]", "End program"]
    assert 1.9 <= took < 4.0, took
    assert len(re.findall(r"calc started in process ForkPoolWorker-\d+", srv.log())) == 4


def test_seed_apply_async_every_callback_arrives(make_server):
    lines, took, srv = run_seed(make_server, "apply_async")
    said = messages(lines)
    main_pid = said[0].split(": ")[1]
    assert [m.split(":")[0] for m in said[1:5]] == ["result1", "result2", "result3", "result4"]
    assert all(" object at 0x" in m for m in said[1:5])
    callbacks = [m for m in said if m.startswith("Callback result: ")]
    values = sorted(int(re.match(r"Callback result: (\d+),", m).group(1)) for m in callbacks)
    assert values == [1, 1024, 59049, 1048576]
    # The callbacks run in the calling program, as Pool's do.
    assert all(m.endswith("process pid: %s" % main_pid) for m in callbacks)
    assert said[-1] == "End program"
    # Four one-second calls on two workers: two rounds.
    assert 1.9 <= took < 4.5, took


def test_seeds_differ_from_the_article_in_their_import_line_only():
    for name in ("apply", "map", "apply_async"):
        with open(os.path.join(SEED, name + ".py")) as f:
            text = f.read()
        assert text.count("from poold import Pool, current_process\n") == 1, name
        assert "multiprocessing" not in text, name
