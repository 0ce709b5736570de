"""Validate the double's traffic against the official VNG OpenAPI specs (via openapi-core).

The specs are copies of the VNG-Realisatie releases (see ``specs/SOURCES.md``). Their ``servers``
entry points at ``https://zaken-api.vng.cloud/api/v1``; we replace it with the relative base path
Open Zaak serves (``/zaken/api/v1``), which openapi-core then matches on the path alone, so the
double can listen on any host and port.

Loading and checking a spec takes a fraction of a second; we do it once per process per API
(``load_api`` is cached) because every test and the demo create their own double.
"""
from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml
from werkzeug.datastructures import Headers
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.validation.request.exceptions import (
    InvalidParameter, InvalidRequestBody, MissingParameterError, MissingRequestBodyError,
    ParameterValidationError, SecurityValidationError)
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue

SPEC_DIR = Path(__file__).with_name("specs")

#: base path (as Open Zaak 1.21.0 serves it) -> spec file
SPEC_FILES = {
    "/zaken/api/v1": "vng-zaken-api-1.5.1.yaml",
    "/documenten/api/v1": "vng-documenten-api-1.4.3.yaml",
    "/catalogi/api/v1": "vng-catalogi-api-1.3.1.yaml",
}

_load_lock = threading.Lock()


@functools.cache
def spec_dict(base_path: str) -> dict:
    """The parsed spec for ``base_path``, with ``servers`` pointing at that base path."""
    with open(SPEC_DIR / SPEC_FILES[base_path], encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    data["servers"] = [{"url": base_path}]
    return data


def load_api(base_path: str) -> OpenAPI:
    """The openapi-core ``OpenAPI`` for one base path; built once per process."""
    with _load_lock:  # two doubles starting in parallel threads must not both build it
        return _load_api(base_path)


@functools.cache
def _load_api(base_path: str) -> OpenAPI:
    # ZGW errors are application/problem+json, which openapi-core does not parse by default
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_dict(spec_dict(base_path), config=config)


def api_version(base_path: str) -> str:
    return spec_dict(base_path)["info"]["version"]


@dataclass(frozen=True)
class Param:
    """One entry of a ZGW ``invalidParams`` list."""
    name: str
    code: str
    reason: str

    def as_json(self) -> dict:
        return {"name": self.name, "code": self.code, "reason": self.reason}


# jsonschema keyword -> the Django REST framework error code Open Zaak would report
_CODES = {"required": "required", "maxLength": "max_length", "minLength": "min_length",
          "enum": "invalid_choice", "nullable": "null", "type": "invalid", "format": "invalid",
          "pattern": "invalid", "maximum": "max_value", "minimum": "min_value"}


def _schema_params(prefix: str, cause: InvalidSchemaValue) -> list[Param]:
    params = []
    for err in cause.schema_errors:
        path = [str(p) for p in getattr(err, "absolute_path", [])]
        keyword = getattr(err, "validator", "")
        if keyword == "required" and isinstance(err.instance, dict):
            for missing in err.validator_value:
                if missing not in err.instance:
                    name = ".".join([*path, missing]) or prefix
                    params.append(Param(name, "required", "Dit veld is vereist."))
            continue
        if keyword == "type" and err.instance is None:
            keyword = "nullable"
        if keyword in ("oneOf", "anyOf") and err.context:
            # e.g. VertrouwelijkheidaanduidingEnum | BlankEnum: all branches are enums
            inner = {e.validator for e in err.context}
            keyword = inner.pop() if len(inner) == 1 else keyword
        params.append(Param(".".join(path) or prefix, _CODES.get(keyword, "invalid"),
                            getattr(err, "message", str(err))))
    return params


def _params_for(error: Exception) -> list[Param]:
    """Translate one openapi-core error into ZGW-style invalid parameters."""
    if isinstance(error, MissingParameterError):
        return [Param(error.name, "required", str(error))]
    if isinstance(error, InvalidParameter):
        cause = error.__cause__
        if isinstance(cause, InvalidSchemaValue):
            return [Param(error.name, p.code, p.reason) for p in _schema_params(error.name, cause)]
        return [Param(error.name, "invalid", _text(error))]
    if isinstance(error, ParameterValidationError):
        return [Param(error.name, "invalid", _text(error))]
    if isinstance(error, InvalidRequestBody) and isinstance(error.__cause__, InvalidSchemaValue):
        return _schema_params("nonFieldErrors", error.__cause__)
    if isinstance(error, SecurityValidationError):
        return [Param("Authorization", "required", "Bearer JWT (security JWT-Claims) ontbreekt.")]
    if isinstance(error, MissingRequestBodyError):
        return [Param("nonFieldErrors", "required", str(error))]
    return [Param("nonFieldErrors", "invalid", _text(error))]


def _text(error: Exception) -> str:
    text, cause = str(error), error.__cause__
    return f"{text}: {cause}" if cause is not None and str(cause) not in text else text


def _unique(items: list) -> list:
    # openapi-core reports one schema error once per allOf branch; say it once
    return list(dict.fromkeys(items))


#: bytes of each uploaded file that the validator of a multipart body gets to see
FORM_PREVIEW = 64 * 1024


class FormRequest(WerkzeugOpenAPIRequest):
    """A multipart/form-data request as openapi-core is shown it.

    openapi-core parses a multipart body with ``email.parser`` from the whole body in memory
    (several copies of it), which a bestandsdeel of gigabytes must never go through. So the app
    lets werkzeug parse the form first (uploads stream to files on disk), and the validator gets
    a multipart body rebuilt from the parsed form: every field as sent, every file with its
    name, content type and its first :data:`FORM_PREVIEW` bytes. What this cannot check: the
    bytes of a file beyond that preview (the spec says only ``format: binary``, any bytes) and
    the original body's exact framing (werkzeug already accepted it). The ``Content-Type`` header
    parameter the ZGW specs declare (an enum of bare media types, where a multipart request
    always carries ``; boundary=...``) is given as the bare media type: OpenAPI 3.0.3 says a
    ``Content-Type`` header parameter SHALL be ignored, and the media type is what it names.
    """

    BOUNDARY = "zgw-double-validation-boundary"

    def __init__(self, request):
        super().__init__(request)
        self.parameters.header = Headers(request.headers)
        self.parameters.header["Content-Type"] = request.mimetype
        chunks = []
        for name, value in request.form.items(multi=True):
            chunks.append(f'--{self.BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"'
                          f"\r\n\r\n".encode() + value.encode("utf-8") + b"\r\n")
        for name, upload in request.files.items(multi=True):
            stream = upload.stream
            position = stream.tell()
            stream.seek(0)
            preview = stream.read(FORM_PREVIEW)
            stream.seek(position)
            chunks.append(f'--{self.BOUNDARY}\r\nContent-Disposition: form-data; name="{name}";'
                          f' filename="{upload.filename or name}"\r\nContent-Type:'
                          f" {upload.content_type or 'application/octet-stream'}\r\n\r\n".encode()
                          + preview + b"\r\n")
        self._body = b"".join(chunks) + f"--{self.BOUNDARY}--\r\n".encode()

    @property
    def body(self) -> bytes:
        return self._body

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.BOUNDARY}"


def request_problems(base_path: str, request) -> list[Param]:
    """Everything wrong with a werkzeug request according to the spec ([] if valid)."""
    api = load_api(base_path)
    params: list[Param] = []
    adapter = FormRequest(request) if request.mimetype == "multipart/form-data" \
        else WerkzeugOpenAPIRequest(request)
    for error in api.iter_request_errors(adapter):
        params.extend(_params_for(error))
    return _unique(params)


def response_problems(base_path: str, request, response) -> list[str]:
    """Everything wrong with the double's own response according to the spec."""
    api = load_api(base_path)
    problems = []
    for error in api.iter_response_errors(WerkzeugOpenAPIRequest(request),
                                          WerkzeugOpenAPIResponse(response)):
        cause = error.__cause__
        if isinstance(cause, InvalidSchemaValue):
            problems.extend(f"{p.name}: {p.reason}" for p in _schema_params("body", cause))
        else:
            problems.append(_text(error))
    return _unique(problems)
