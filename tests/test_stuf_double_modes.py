"""The StUF double's optional modes: one SOAP version only, HTTPS with mutual TLS."""
from __future__ import annotations

import ssl
import subprocess

import pytest
import requests

from connector_doubles.stuf import StufDouble, serve

from .stuf_double_support import di02, post


def test_a_double_with_one_soap_binding_refuses_the_other_version():
    double = StufDouble(dialect="1.1", soap_versions=("1.2",))
    with serve(double) as server:
        assert post(server, "1.1", "doc_id", di02("1.1"), "1.2").status_code == 200
        response = post(server, "1.1", "doc_id", di02("1.1"), "1.1")
        assert response.status_code == 415 and "application/soap+xml" in response.text
    assert len(double.reservations) == 1 and len(double.violations) == 1
    assert double.requests[-1]["soap_version"] is None and double.requests[-1]["status"] == 415


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (server certificate, client certificate and CA at once)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                        "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    return str(cert), str(key)


def test_mutual_tls_is_emulated_with_an_ssl_context(certificate):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cert)
    double = StufDouble(dialect="1.2")
    with serve(double, ssl_context=context) as server:
        assert server.url.startswith("https://")
        assert post(server, "1.2", "doc_id", di02("1.2"), "1.2", verify=cert, cert=(cert, key)).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            post(server, "1.2", "doc_id", di02("1.2"), "1.2", verify=cert)   # no client certificate
    assert len(double.reservations) == 1
