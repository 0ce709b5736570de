"""ZGW error bodies (``application/problem+json``) the way Open Zaak 1.21.0 writes them."""
from __future__ import annotations

import uuid

from .validation import Param

TITLES = {
    400: "Invalid input.",
    403: "U heeft geen toestemming om deze actie uit te voeren.",
    404: "Niet gevonden.",
    405: "Methode niet toegestaan.",
    406: "Kan niet voldoen aan de opgegeven Accept header.",
    412: "Precondition failed",
}


class Problem(Exception):
    """Raised by a handler (or the request pipeline) to answer with an error body."""

    def __init__(self, status: int, code: str, detail: str, params: list[Param] | None = None,
                 title: str | None = None):
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.params = params
        self.title = title or TITLES.get(status, "Error")

    def body(self, root: str) -> dict:
        # Open Zaak: ``type`` points at its error documentation, ``instance`` is a urn per error
        kind = "ValidationError" if self.params is not None else _kind(self.status)
        body = {"type": f"{root}/ref/fouten/{kind}/", "code": self.code, "title": self.title,
                "status": self.status, "detail": self.detail,
                "instance": f"urn:uuid:{uuid.uuid4()}"}
        if self.params is not None:
            body["invalidParams"] = [p.as_json() for p in self.params]
        return body


def _kind(status: int) -> str:
    return {403: "PermissionDenied", 404: "NotFound", 405: "MethodNotAllowed",
            406: "NotAcceptable", 412: "PreconditionFailed"}.get(status, "APIException")


def invalid(*params: Param) -> Problem:
    """A 400 with ``invalidParams``, as DRF's ValidationError renders in Open Zaak."""
    return Problem(400, "invalid", "Invalid input.", list(params))


def not_found() -> Problem:
    return Problem(404, "not_found", "Niet gevonden.")
