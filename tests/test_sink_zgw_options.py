"""The ZGW sink's options, identities and token, without a case system."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import jwt
import marshmallow
import pytest

from connector.sinks import SINKS
from connector.sinks.zgw import ZgwSink, document_identificatie, elfproef, zaak_identificatie
from connector.sinks.zgw.identity import taal
from tests.test_rendition import load_message
from .zgw_sink_support import SECRET, base_options
from .zgw_sink_support import double, options, running, server, session, sink  # noqa: F401 (fixtures)


# --- unit: options, identities, token ----------------------------------------------------------

def test_sink_is_registered_as_zgw():
    assert SINKS.get_class("zgw") is ZgwSink


@pytest.mark.parametrize("rsin", ["002220647", "111222333", "123456782"])
def test_elfproef_accepts_valid_rsins(rsin):
    assert elfproef(rsin)


@pytest.mark.parametrize("rsin", ["002220648", "00222064", "0022206470", "00222064a", "000000000", ""])
def test_elfproef_rejects_invalid_rsins(rsin):
    assert not elfproef(rsin)


def test_options_defaults_and_trailing_slashes():
    sink = ZgwSink("z", base_options(zaken_url="http://openzaak.local/zaken/api/v1/"))
    assert sink.options["zaken_url"] == "http://openzaak.local/zaken/api/v1"
    assert sink.options["auteur"] == "midoffice-connector"
    assert sink.options["catalogus"] is None and sink.options["timeout"] > 0


@pytest.mark.parametrize("changes,key", [
    ({"bronorganisatie": "002220648"}, "bronorganisatie"),
    ({"zaken_url": "ftp://example.org/zaken"}, "zaken_url"),
    ({"documenten_url": None}, "documenten_url"),
    ({"secret": ""}, "secret"),
    ({"timeout": 0}, "timeout"),
    ({"catalogus": "not a url"}, "catalogus"),
    ({"unexpected": "x"}, "unexpected"),
])
def test_invalid_options_are_rejected(changes, key):
    with pytest.raises(marshmallow.ValidationError) as info:
        ZgwSink("z", base_options(**changes))
    assert key in info.value.messages


def test_secret_never_appears_in_errors_or_repr():
    with pytest.raises(marshmallow.ValidationError) as info:
        ZgwSink("z", base_options(bronorganisatie="bad"))
    assert SECRET not in str(info.value.messages)
    assert SECRET not in repr(ZgwSink("z", base_options()))


def test_token_is_hs256_with_the_claims_open_zaak_reads():
    sink = ZgwSink("z", base_options(user_id="u1", user_representation="Connector"))
    claims = jwt.decode(sink.client.token(), SECRET, algorithms=["HS256"])
    assert claims["iss"] == claims["client_id"] == "connector"
    assert claims["user_id"] == "u1" and claims["user_representation"] == "Connector"
    assert abs(claims["iat"] - datetime.now(timezone.utc).timestamp()) < 60
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(sink.client.token(), "another-secret-that-is-long-enough!!", algorithms=["HS256"])


def test_a_short_secret_gives_one_clear_warning_instead_of_pyjwts_on_every_token(caplog, recwarn):
    import warnings

    warnings.simplefilter("always")  # what PyJWT would print is not hidden by "once per location"
    sink = ZgwSink("openzaak", base_options(secret="short-secret"))
    tokens = [sink.client.token() for _ in range(3)]
    assert [str(w.message) for w in recwarn if w.category.__name__ == "InsecureKeyLengthWarning"] == []
    with warnings.catch_warnings():  # decoding with the short key warns too; that is the server's business
        warnings.simplefilter("ignore")
        assert [jwt.decode(t, "short-secret", algorithms=["HS256"])["iss"] for t in tokens] == ["connector"] * 3
    [record] = [r for r in caplog.records if r.name == "connector.sinks.zgw.client"]
    assert record.levelname == "WARNING"
    assert "sink openzaak: the secret is shorter than the 32 bytes HS256 wants" in record.getMessage()
    assert "short-secret" not in record.getMessage()


def test_a_long_enough_secret_gives_no_warning(caplog, recwarn):
    ZgwSink("openzaak", base_options()).client.token()
    assert [r for r in caplog.records if r.name == "connector.sinks.zgw.client" and r.levelno >= 30] == []
    assert [w for w in recwarn if w.category.__name__ == "InsecureKeyLengthWarning"] == []


@pytest.mark.parametrize("channel", ["m", "gemeente-voorbeeldstad-mastodon-hoofdaccount-met-een-heel-lange-naam",
                                     "ünïcødé kanaal / met tekens", ""])
@pytest.mark.parametrize("role", ["rendition", "original", "media"])
def test_document_identificatie_fits_in_40_characters(channel, role):
    message = dataclasses.replace(load_message(), channel=channel, id="9" * 60, version="2025-01-01T00:00:00Z")
    identificatie = document_identificatie(message, role)
    assert len(identificatie) <= 40 and identificatie.isascii()
    assert len(zaak_identificatie(message)) <= 40


def test_document_identificatie_is_stable_and_distinct_per_channel_id_and_role_not_version():
    message = load_message()
    edited = dataclasses.replace(message, version="2025-02-19T10:00:00Z")
    assert document_identificatie(message, "rendition") == document_identificatie(load_message(), "rendition")
    assert document_identificatie(edited, "rendition") == document_identificatie(message, "rendition")
    variants = {
        document_identificatie(message, "rendition"),
        document_identificatie(message, "original"),
        document_identificatie(edited, "rendition", per_version=True),
        document_identificatie(dataclasses.replace(message, id="114026814291152536"), "rendition"),
        document_identificatie(dataclasses.replace(message, channel="other"), "rendition"),
    }
    assert len(variants) == 5
    # per version or not, a first version keeps the identificatie earlier releases gave it
    assert document_identificatie(message, "rendition", per_version=True) == document_identificatie(message, "rendition")
    assert document_identificatie(message, "rendition") == "SOC-R-fosstodon-sch-a762dedfbf6a0b0fd8a7"  # as before this change
    # a version archived beside a newer one: its own, also for a first version
    assert document_identificatie(message, "rendition", late=True) not in variants


def test_zaak_identificatie_ignores_the_version_but_not_the_message():
    message = load_message()
    edited = dataclasses.replace(message, version="2025-02-19T10:00:00Z")
    assert zaak_identificatie(edited) == zaak_identificatie(message)
    assert zaak_identificatie(dataclasses.replace(message, id="1")) != zaak_identificatie(message)
    assert zaak_identificatie(message) not in {document_identificatie(message, r) for r in ("rendition", "original")}


@pytest.mark.parametrize("language,expected", [("nl", "dut"), ("nl-BE", "dut"), ("nld", "dut"), ("en", "eng"),
                                               ("en_GB", "eng"), ("de", "ger"), ("fr", "fre"), ("fy", "fry"),
                                               (None, "dut"), ("", "dut"), ("x", "dut"), ("??", "dut")])
def test_taal_is_iso_639_2_b(language, expected):
    assert taal(language) == expected


