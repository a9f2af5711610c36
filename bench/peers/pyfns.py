"""The Python functions bench/runtime.sh serves, the same code each way:
from poold's warm runtime (--python), as an exec function
(pyecho_exec.py), behind gunicorn and Flask (flask_app.py), and in an
in-process Pool (pool_map.py)."""


def pyecho(x):
    """pyecho(x): x"""
    return x


def square(x):
    """square(x): x * x"""
    return x * x
