"""pyfns.pyecho as an exec function: a new interpreter per call, its args
as JSON on stdin, its result as JSON on stdout."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyfns import pyecho  # noqa: E402

print(json.dumps(pyecho(*json.load(sys.stdin))))
