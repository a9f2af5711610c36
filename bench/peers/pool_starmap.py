"""The seed's own tool with no HTTP at all: Pool(PROCESSES).starmap(pow, pairs)
in one process, timed from the call to the last result, the pool already
started. Prints the seconds and a checksum of the results, which
bench/compare.sh compares with poold's.

    python3 bench/peers/pool_starmap.py N [PROCESSES]
"""
import multiprocessing
import sys
import time

if __name__ == "__main__":
    n = int(sys.argv[1])
    pairs = [[i % 1000, i % 7] for i in range(n)]
    with multiprocessing.Pool(int(sys.argv[2]) if len(sys.argv) > 2 else 2) as pool:
        pool.starmap(pow, pairs[:1000])  # the workers are up
        began = time.perf_counter()
        results = pool.starmap(pow, pairs)
        took = time.perf_counter() - began
    print("%.6f %d" % (took, sum(results)))
