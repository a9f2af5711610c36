"""poold: Python's multiprocessing.Pool as an HTTP service.

This package holds the warm Python runtime a poold worker starts
(poold.runtime, docs/worker-protocol.md).
"""
