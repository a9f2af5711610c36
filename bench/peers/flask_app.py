"""pyfns.pyecho behind Flask, for gunicorn's sync workers: POST /v1/apply
as poold answers it.

    gunicorn -w 2 -b 127.0.0.1:PORT --chdir bench/peers flask_app:app
"""
from flask import Flask, jsonify, request

from pyfns import pyecho, square

app = Flask(__name__)
FUNCS = {"pyecho": pyecho, "square": square}


@app.post("/v1/apply")
def apply():
    body = request.get_json(force=True)
    return jsonify(result=FUNCS[body["func"]](*body.get("args", [])))
