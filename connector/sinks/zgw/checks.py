"""``check()`` of the ZGW sink: settings, then connection, then credentials. Never raises.

One cheap authenticated list call per API answers both later questions: any HTTP answer means
the server is reachable (connection), a 2xx means it accepts our token (credentials).
"""
from __future__ import annotations

from ...checks import Check
from ...failures import Failed, classify_response

APIS = (
    ("Zaken API", "zaken_url", "zaken", True),
    ("Documenten API", "documenten_url", "enkelvoudiginformatieobjecten", False),
    ("Catalogi API", "catalogi_url", "zaaktypen", False),
)


def run_checks(sink) -> list[Check]:
    options = sink.options
    checks = [Check("settings", True, f"bronorganisatie {options['bronorganisatie']}, client_id "
                                      f"{options['client_id']}, zaken {options['zaken_url']}")]
    answers = []
    unreachable = []
    for label, key, collection, crs in APIS:
        params = {"bronorganisatie": options["bronorganisatie"]} if collection != "zaaktypen" else (
            {"catalogus": options["catalogus"]} if options["catalogus"] else None)
        url = f"{options[key]}/{collection}"
        try:
            response = sink.client.request("GET", url, f"GET {label} /{collection}", params=params, crs=crs,
                                           accept=tuple(range(300, 600)))
        except Failed as exc:
            unreachable.append(f"{label}: {exc.failure.message}")
            continue
        except Exception as exc:  # check() must never raise, whatever a broken server does
            unreachable.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        answers.append((label, key, response))
    wrong_url = [f"{label}: HTTP {r.status_code} at {r.url} (is {key} the API root, e.g. .../api/v1?)"
                 for label, key, r in answers if r.status_code in (404, 405) or r.status_code >= 500]
    problems = unreachable + wrong_url
    checks.append(Check("connection", not problems,
                        "; ".join(problems) or ", ".join(f"{label} reachable" for label, _, _ in answers)))
    if problems:
        checks.append(Check("credentials", False, "not checked: fix the connection first"))
        return checks
    rejected = []
    for label, _, response in answers:
        failure = classify_response(response, label)
        if failure is not None:
            hint = " (check client_id and secret, and the application's rights in the case system)" \
                if response.status_code in (401, 403) else ""
            rejected.append(f"{failure.message}{hint}")
    checks.append(Check("credentials", not rejected, "; ".join(rejected) or
                        f"client_id {options['client_id']!r} accepted by all three APIs"))
    if not rejected and options["informatieobjecttype"]:
        checks.append(_catalogus_check(sink))
    return checks


def _catalogus_check(sink) -> Check:
    """Does the default informatieobjecttype resolve? Rules can only be checked per message."""
    from ...routing import Routing
    try:
        url = sink._informatieobjecttype(Routing("attach"))
    except Failed as exc:
        return Check("catalogus", False, exc.failure.message)
    except Exception as exc:  # noqa: BLE001 - never raise from check()
        return Check("catalogus", False, f"{type(exc).__name__}: {exc}")
    return Check("catalogus", True, f"informatieobjecttype {sink.options['informatieobjecttype']!r}: {url}")
