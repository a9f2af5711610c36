"""The Celery side of bench/cluster.sh: the same trivial task as poold's
built-in echo, with Redis as broker and result backend (CELERY_REDIS, the
bench's redis-server). bench/cluster.sh runs the worker:

    CELERY_REDIS=redis://127.0.0.1:PORT/0 PYTHONPATH=bench/peers \
        python3 -m celery -A celery_app worker -c 2 --pool prefork

and bench/peers/cluster_driver.py sends it by name (celery_app.echo).
"""
import os

from celery import Celery

app = Celery("celery_app", broker=os.environ["CELERY_REDIS"], backend=os.environ["CELERY_REDIS"])


@app.task
def echo(x):
    return x
