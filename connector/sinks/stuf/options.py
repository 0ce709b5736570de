"""Options of the StUF-ZDS sink, validated on every construction (unknown keys are an error).

Secrets (``password``, ``ws_security_password``) arrive resolved from ``${ENV}`` by the config
layer, which refuses them written out in the file.
"""
from __future__ import annotations

import marshmallow
from marshmallow import fields, validate

from .messages import Party


def _url(**kwargs):
    return fields.Url(schemes={"http", "https"}, require_tld=False, **kwargs)


class PartySchema(marshmallow.Schema):
    """``zender`` / ``ontvanger`` of the stuurgegevens."""

    class Meta:
        unknown = marshmallow.RAISE

    organisatie = fields.String(required=True, validate=validate.Length(min=1, max=200))
    applicatie = fields.String(required=True, validate=validate.Length(min=1, max=50))
    administratie = fields.String(load_default="", validate=validate.Length(max=50))
    gebruiker = fields.String(load_default="", validate=validate.Length(max=100))

    @marshmallow.post_load
    def _make(self, data, **kwargs):
        return Party(**data)


class InitiatorSchema(marshmallow.Schema):
    class Meta:
        unknown = marshmallow.RAISE

    rsin = fields.String(required=True, validate=validate.Regexp(r"^\d{9}$", error="9 digits (an RSIN)"))
    naam = fields.String(load_default="", validate=validate.Length(max=200))


class StufOptions(marshmallow.Schema):
    class Meta:
        unknown = marshmallow.RAISE

    dialect = fields.String(load_default="1.1", validate=validate.OneOf(("1.1", "1.2")), metadata={
        "description": "`1.1`: ZKN roots (Decos JOIN, Suites, Zaakbrug, Open Formulieren); `1.2`: ZDS roots"})
    soap_version = fields.String(load_default="1.1", validate=validate.OneOf(("1.1", "1.2")), metadata={
        "description": "`1.1` (`text/xml`, SOAPAction header) or `1.2` (`application/soap+xml; action=`)"})
    beantwoord_vraag_url = _url(required=True, metadata={
        "description": "endpoint of the BeantwoordVraag service (geefZaakdetails, geefLijstZaakdocumenten)"})
    vrije_berichten_url = _url(required=True, metadata={
        "description": "endpoint of the VrijeBerichten service (genereerZaak-/DocumentIdentificatie)"})
    ontvang_asynchroon_url = _url(required=True, metadata={
        "description": "endpoint of the OntvangAsynchroon service (creeerZaak, voegZaakdocumentToe)"})
    zender = fields.Nested(PartySchema, required=True, metadata={
        "description": "stuurgegevens zender: `{organisatie, applicatie, administratie, gebruiker}`"})
    ontvanger = fields.Nested(PartySchema, required=True, metadata={
        "description": "stuurgegevens ontvanger, as the case system expects it"})
    documenttype = fields.String(load_default="Sociale-mediabericht", validate=validate.Length(min=1, max=80),
                                 metadata={"description": "`dct.omschrijving` when a rule names no"
                                                          " informatieobjecttype"})
    auteur = fields.String(load_default="midoffice-connector", validate=validate.Length(min=1, max=200),
                           metadata={"description": "`auteur` of the documents"})
    initiator = fields.Nested(InitiatorSchema, load_default=None, allow_none=True, metadata={
        "description": "`{rsin, naam}`: the organisation as initiator of the zaken it creates (required by"
                       " dialect 1.2's creeerZaak)"})
    timeout = fields.Float(load_default=60.0, validate=validate.Range(min=0.1, max=3600), metadata={
        "description": "seconds per HTTP call"})
    username = fields.String(load_default=None, allow_none=True, metadata={"description": "HTTP Basic user"})
    password = fields.String(load_default=None, allow_none=True, load_only=True, metadata={
        "description": "HTTP Basic password, as `${ENV}` only"})
    ws_security_username = fields.String(load_default=None, allow_none=True, metadata={
        "description": "WS-Security UsernameToken user"})
    ws_security_password = fields.String(load_default=None, allow_none=True, load_only=True, metadata={
        "description": "WS-Security UsernameToken password (PasswordText), as `${ENV}` only"})
    client_certificate = fields.String(load_default=None, allow_none=True, metadata={
        "description": "mutual TLS: PEM file with the client certificate (and key, unless `client_key`)"})
    client_key = fields.String(load_default=None, allow_none=True, metadata={
        "description": "mutual TLS: PEM file with the client's private key"})
    ca_bundle = fields.String(load_default=None, allow_none=True, metadata={
        "description": "PEM file of the CA(s) to trust for the case system's certificate"})

    @marshmallow.validates_schema
    def _pairs(self, data, **kwargs):
        for user, password in (("username", "password"), ("ws_security_username", "ws_security_password")):
            if bool(data.get(user)) != bool(data.get(password)):
                raise marshmallow.ValidationError(f"give {user} and {password} together, or neither")
        if data.get("client_key") and not data.get("client_certificate"):
            raise marshmallow.ValidationError("client_key needs client_certificate")
