"""Fault injection for the ZGW double: a case system under maintenance, on purpose.

The machinery (phases before/after the handler, the kinds ``error_rate``, ``timeout_rate``, ``slow`` and
``outage``, counters, seeds) is shared with the other doubles: see ``connector_doubles/faults.py``.
Here the injected 5xx answers take Open Zaak's form (``application/problem+json``, 503 with
``Retry-After: 1``) and are checked against the specs as far as the specs declare them.
"""
from __future__ import annotations

from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.wrappers import Response

from .. import faults as shared
from ..faults import Plan, cut_connection  # noqa: F401  (part of this module's interface)
from .problems import Problem
from .validation import load_api, response_problems

# Open Zaak renders 5xx through Django REST framework's exception handler (Dutch locale)
_FIVE_XX = {
    500: ("error", "Er is een serverfout opgetreden."),
    502: ("bad_gateway", "Bad gateway."),
    503: ("service_unavailable", "Service tijdelijk niet beschikbaar, probeer het later opnieuw."),
    504: ("gateway_timeout", "Gateway timeout."),
}


class InjectedFault(Problem):
    """A deliberate 5xx answer; ``headers`` go on the response (``Retry-After`` for 503)."""

    def __init__(self, status: int, kind: str, retry_after: int | None = None):
        code, title = _FIVE_XX.get(status, ("error", "Er is een serverfout opgetreden."))
        super().__init__(status, code, f"{title} (ZGW double: injected {kind})", title=title)
        self.kind = kind
        self.headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}


class Faults(shared.Faults):
    """The faults one ZGW double injects; thread-safe, all settings off until configured."""

    def make_fault(self, status: int, kind: str, retry_after: int | None) -> InjectedFault:
        return InjectedFault(status, kind, retry_after)


def fault_findings(base_path: str, request, response) -> list[str]:
    """Spec findings for an injected 5xx answer.

    Where the operation declares the status, the answer is checked as usual; where it does not
    (Open Zaak's specs list 500 only), the body is checked as the operation's 500 answer instead.
    An operation without any such response gives no finding: the fault is deliberate.
    """
    if _declared(base_path, request, response):
        return response_problems(base_path, request, response)
    stand_in = Response(response.get_data(), status=500, headers=dict(response.headers))
    if _declared(base_path, request, stand_in):
        return response_problems(base_path, request, stand_in)
    return []


def _declared(base_path: str, request, response) -> bool:
    errors = load_api(base_path).iter_response_errors(WerkzeugOpenAPIRequest(request),
                                                      WerkzeugOpenAPIResponse(response))
    return not any(isinstance(error, ResponseNotFound) for error in errors)
