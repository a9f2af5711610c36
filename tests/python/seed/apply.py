import os
from poold import Pool, current_process
import time
import sys

import logging

logger = logging.getLogger(__name__)
logger.setLevel(logging.DEBUG)
handler = logging.StreamHandler(stream=sys.stdout)
handler.setFormatter(logging.Formatter(fmt='%(asctime)s: %(message)s'))
logger.addHandler(handler)


def calc(value: int) -> int:
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
