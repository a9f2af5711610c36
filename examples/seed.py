"""The seed's program: Pool.apply of calc, four times, in two processes.

Run it as a program and it uses multiprocessing.Pool, as the seed does:

    python3 examples/seed.py

Serve it with poold and calc is a poold function, from a warm Python
runtime in each worker (this file's `if __name__ == "__main__":` block does
not run there), hiding the C built-in of the same name:

    poold --python examples/seed.py
    curl -s localhost:8080/v1/map -d '{"func":"calc","iterable":[1,2,5,10],"chunksize":1}'
"""
import logging
import os
import sys
import time
from multiprocessing import Pool, current_process

logger = logging.getLogger(__name__)
logger.setLevel(logging.DEBUG)
handler = logging.StreamHandler(stream=sys.stdout)
handler.setFormatter(logging.Formatter(fmt='%(asctime)s: %(message)s'))
logger.addHandler(handler)


def calc(value: int) -> int:
    """calc(value): sleeps 1 s, then value**10 (the seed's function, in Python)"""
    logger.info(f'calc started in process {current_process().name} with pid {current_process().pid}')
    time.sleep(1)
    return value**10


if __name__ == '__main__':
    logger.info(f'main pid: {os.getpid()}')
    with Pool(processes=2) as pool:
        result1 = pool.apply(calc, (10,))
        logger.info('result1: %s', result1)
        result2 = pool.apply(calc, (10,))
        logger.info('result2: %s', result2)
        result3 = pool.apply(calc, (10,))
        logger.info('result3: %s', result3)
        result4 = pool.apply(calc, (10,))
        logger.info('result4: %s', result4)

    print('End program')
