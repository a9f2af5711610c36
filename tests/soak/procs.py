"""tests/soak/procs.py: the memory of poold's processes, for the soak.

python3 tests/soak/procs.py PID prints the memory in KiB (PSS) of PID and
every process under it (the fork server and the workers)."""
import os
import sys


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return int(next(l for l in f if l.startswith("VmRSS")).split()[1])
    except (OSError, StopIteration):
        return 0  # gone meanwhile (a worker killed or retired)


def pss_kb(pid):
    """Proportional set size: a page shared by n processes counts 1/n in
    each, so a sum over processes that fork shares counts it once."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            return int(next(l for l in f if l.startswith("Pss:")).split()[1])
    except (OSError, StopIteration):
        return 0


def tree_rss_kb(root):
    """The memory of root and every process under it (PSS, summed): the
    fork server and the workers hold memory too, and a leak there is as
    real."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += pss_kb(pid)
        todo.extend(children.get(pid, []))
    return total


if __name__ == "__main__":
    print(tree_rss_kb(int(sys.argv[1])))
