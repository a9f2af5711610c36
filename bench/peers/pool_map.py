"""Pool(PROCESSES).map(square, range(N)) in one process, the pool already
started: seconds, and the results' sum (bench/runtime.sh compares it).

    python3 bench/peers/pool_map.py N [PROCESSES]
"""
import multiprocessing
import sys
import time

from pyfns import square

if __name__ == "__main__":
    n = int(sys.argv[1])
    with multiprocessing.Pool(int(sys.argv[2]) if len(sys.argv) > 2 else 2) as pool:
        pool.map(square, range(1000))
        began = time.perf_counter()
        results = pool.map(square, range(n))
        took = time.perf_counter() - began
    print("%.6f %d" % (took, sum(results)))
