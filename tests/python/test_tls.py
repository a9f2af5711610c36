"""https:// to a poold serving TLS (--tls-cert): the same calls, the
certificate trusted through SSL_CERT_FILE as any ssl default context
trusts it."""
import shutil
import subprocess

import pytest

import poold


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test's certificate")
def test_calls_over_https(make_server, tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    srv = make_server("--tls-cert", str(cert), "--tls-key", str(key), tls=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with poold.Pool(url=srv.url, api_key="") as p:
        assert p.apply("sqr", (3,)) == 9
        assert p.map("sqr", range(5)) == [0, 1, 4, 9, 16]
        assert list(p.imap("sqr", iter(range(5)))) == [0, 1, 4, 9, 16]
        assert sum(r.get(30) for r in [p.apply_async("sqr", (i,)) for i in range(20)]) == 2470
        it = p.imap("nap", [1.0])
        with pytest.raises(poold.TimeoutError):
            it.next(timeout=0.2)
        assert it.next(timeout=10) == 1.0
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
    with poold.Pool(url=srv.url, api_key="") as p:
        with pytest.raises(poold.ConnectionLost, match="TLS"):
            p.apply("sqr", (3,))  # a certificate nobody trusts is refused
