"""Options of the ZGW sink, validated on every construction (unknown keys are an error)."""
from __future__ import annotations

import marshmallow
from marshmallow import fields, validate


def elfproef(value: str) -> bool:
    """The 11-test of an RSIN/BSN: 9 digits, 9*d1 + 8*d2 + ... + 2*d8 - d9 divisible by 11."""
    if len(value) != 9 or not value.isdigit() or value == "000000000":
        return False
    digits = [int(c) for c in value]
    total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1))) - digits[8]
    return total % 11 == 0


def _rsin(value: str) -> None:
    if not elfproef(value):
        raise marshmallow.ValidationError("must be an RSIN: 9 digits passing the elfproef (11-test)")


def _url(**kwargs):
    # require_tld=False: on-premises case systems live on hosts like "openzaak.local" or 127.0.0.1
    return fields.Url(schemes={"http", "https"}, require_tld=False, **kwargs)


class ZgwOptions(marshmallow.Schema):
    """``secret`` arrives already resolved (from an environment variable) by the config layer."""

    class Meta:
        unknown = marshmallow.RAISE

    zaken_url = _url(required=True, metadata={
        "description": "Zaken API root, e.g. `https://openzaak.example.nl/zaken/api/v1`"})
    documenten_url = _url(required=True, metadata={"description": "Documenten API root"})
    catalogi_url = _url(required=True, metadata={"description": "Catalogi API root"})
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=255),
                              metadata={"description": "JWT (HS256) client id"})
    # load_only: the secret never comes back out of dump(), e.g. into a settings page
    secret = fields.String(required=True, load_only=True, validate=validate.Length(min=1),
                           metadata={"description": "the JWT client's secret, as `${ENV}` only"})
    bronorganisatie = fields.String(required=True, validate=_rsin,
                                    metadata={"description": "RSIN (9 digits, elfproef checked)"})
    catalogus = _url(load_default=None, allow_none=True, metadata={
        "description": "catalogus URL: restricts zaaktype/informatieobjecttype lookups by name"})
    # the document type when a rule names none; with neither, ZgwSink.validate_routing reports the rule
    informatieobjecttype = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1), metadata={
        "description": "default when a rule names none (URL or omschrijving)"})
    auteur = fields.String(load_default="midoffice-connector", validate=validate.Length(min=1, max=200), metadata={
        "description": "`auteur` of the documents (the message author is in the rendition)"})
    timeout = fields.Float(load_default=30.0, validate=validate.Range(min=0.1, max=600),
                           metadata={"description": "seconds per HTTP call"})
    # Open Zaak takes bodies up to its maximum (4 GiB) whole, but base64 in JSON costs a third more
    # bytes and the whole file in memory on both sides: above this size a file goes up in parts
    large_file_threshold = fields.Integer(load_default=64 * 1024 * 1024, validate=validate.Range(min=0), metadata={
        "description": "bytes; a larger file goes up in parts (bestandsdelen, lock, unlock), streamed from"
                       " disk, a smaller one as base64 `inhoud`"})
    edits = fields.String(load_default="versions", validate=validate.OneOf(("versions", "documents")), metadata={
        "description": "`versions`: an edited message becomes a new version of the same documents (lock,"
                       " update, unlock; needs the scope `documenten.geforceerd-bijwerken`, as the documents are"
                       " definitief); `documents`: each edit gets documents of its own"})
    user_id = fields.String(load_default="midoffice-connector", validate=validate.Length(min=1, max=255),
                            metadata={"description": "JWT claim, shown in the case system's audit trail"})
    user_representation = fields.String(load_default="Midoffice connector", validate=validate.Length(max=255),
                                        metadata={"description": "JWT claim, shown in the case system's audit trail"})

    @marshmallow.post_load
    def _strip_slashes(self, data, **kwargs):
        # base URLs are joined with "/zaken" etc.; a trailing slash would double up
        for key in ("zaken_url", "documenten_url", "catalogi_url"):
            data[key] = data[key].rstrip("/")
        return data
