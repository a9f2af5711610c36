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


def callback(result):
    logger.info(f'Callback result: {result}, process pid: {current_process().pid}')


if __name__ == '__main__':
    logger.info(f'main pid: {os.getpid()}')

    with Pool(processes=2) as pool:
        result1 = pool.apply_async(calc, (1,), callback=callback)
        logger.info('result1: %s', result1)
        result2 = pool.apply_async(calc, (2,), callback=callback)
        logger.info('result2: %s', result2)
        result3 = pool.apply_async(calc, (3,), callback=callback)
        logger.info('result3: %s', result3)
        result4 = pool.apply_async(calc, (4,), callback=callback)
        logger.info('result4: %s', result4)

        pool.close()
        pool.join()

    print('End program')
