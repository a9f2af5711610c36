"""The hostile user code of tests/http/http_secrets.c: it looks for poold's
secrets (the API key, the webhook secret) wherever code that poold runs
could read them: its own environment, and the environ, cmdline and memory
of its worker, the fork server and poold. Served both ways user code runs:
`poold --python` loads `probe`; as an exec function, `python3
secrets_probe.py` reads the call's args on stdin and writes the answer.

It plays an unprivileged user of poold's uid: a root test runner drops
every capability first (CAP_SYS_PTRACE reads any process, and no process
can guard itself from it).
"""
import ctypes
import json
import os
import sys


def _drop_capabilities():
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: none, both words
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _parent_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _read(path):
    """The file's bytes, or None when it cannot be read (denied)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _memory(pid, limit=64 << 20):
    """The readable regions of pid's memory (none past limit each: the
    sanitizers' shadow), or None when its map cannot be read."""
    maps = _read("/proc/%d/maps" % pid)
    if maps is None:
        return None
    chunks = []
    try:
        mem = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    except OSError:
        return None
    try:
        for line in maps.decode().splitlines():
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if "r" not in fields[1] or hi - lo > limit or line.endswith(("[vvar]", "[vsyscall]")):
                continue
            try:
                chunks.append(os.pread(mem, hi - lo, lo))
            except OSError:
                pass
    finally:
        os.close(mem)
    return b"".join(chunks)


def probe(secrets_hex, poold_pid):
    """probe(secrets_hex, poold_pid): where the secrets showed, and what
    could be read at all."""
    _drop_capabilities()
    secrets = [bytes.fromhex(h) for h in secrets_hex]
    worker = os.getppid()
    forksrv = _parent_of(worker)
    places = {"self env": "\0".join("%s=%s" % kv for kv in os.environ.items()).encode(),
              "self environ": _read("/proc/self/environ")}
    for who, pid in (("worker", worker), ("forksrv", forksrv), ("poold", poold_pid)):
        for what in ("environ", "cmdline"):
            places["%s %s" % (who, what)] = _read("/proc/%d/%s" % (pid, what))
        places["%s mem" % who] = _memory(pid)
    found = sorted(where for where, text in places.items()
                   if text is not None and any(s in text for s in secrets))
    readable = sorted(where for where, text in places.items() if text is not None)
    return {"found": found, "readable": readable, "forksrv_parent": _parent_of(forksrv),
            "poold_cmdline": (places["poold cmdline"] or b"").replace(b"\0", b" ").decode(errors="replace")}


if __name__ == "__main__":
    args = json.load(sys.stdin)
    json.dump(probe(*args), sys.stdout)
