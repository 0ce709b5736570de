"""``check()`` of the ZGW sink: settings, then connection, then credentials, then catalogue. Never raises.

One cheap authenticated list call per API answers both middle questions: any HTTP answer means
the server is reachable (connection), a 2xx means it accepts our token (credentials). An error
answer is classified by the sink (:meth:`~connector.sinks.base.Sink.classify_response`, so its
``error_mapping`` or its own reading of a body applies), exactly as a delivery's would be: a
``retry`` verdict (by default a 5xx) means the server is in trouble, a connection problem; a 404
or 405 means the configured URL is not the API root, a connection problem whatever the verdict
(the collection asked for is there in every ZGW API); any other failure means the server refused
us (credentials). Then every
name the mapping rules use (see :meth:`~connector.sinks.base.Sink.expect_names`) and the
``informatieobjecttype`` option are looked up the way a delivery would: zaaktype by
identificatie and informatieobjecttype by omschrijving in the Catalogi API, a zaak to attach to
by identificatie in the Zaken API. Each missing name is one failed check per place it is used.
"""
from __future__ import annotations

from ...checks import Check
from ...failures import CONFIGURATION, RETRY, Failed, Failure

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
            failure = sink.classify_response(response, label)  # the sink's own reading, as in a delivery
        except Failed as exc:
            unreachable.append(f"{label}: {exc.failure.message}")
            continue
        except Exception as exc:  # check() must never raise, whatever a broken server does
            unreachable.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        answers.append((label, key, response, failure))
    wrong_url = [f"{failure.message} at {r.url} (is {key} the API root, e.g. .../api/v1?)"
                 for _, key, r, failure in answers if _wrong_url(r, failure)]
    problems = unreachable + wrong_url
    checks.append(Check("connection", not problems,
                        "; ".join(problems) or ", ".join(f"{label} reachable" for label, *_ in answers)))
    if problems:
        checks.append(Check("credentials", False, "not checked: fix the connection first"))
        return checks
    rejected = []
    for _, _, response, failure in answers:
        if failure is not None:
            hint = " (check client_id and secret, and the application's rights in the case system)" \
                if response.status_code in (401, 403) else ""
            rejected.append(f"{failure.message}{hint}")
    checks.append(Check("credentials", not rejected, "; ".join(rejected) or
                        f"client_id {options['client_id']!r} accepted by all three APIs"))
    names = dict(getattr(sink, "expected_names", {}))
    if options["informatieobjecttype"]:
        key = ("informatieobjecttype", options["informatieobjecttype"])
        names[key] = names.get(key, []) + [f"option 'informatieobjecttype' of sink {sink.name!r}"]
    if rejected:
        if names:
            checks.append(Check("catalogus", False, "not checked: fix the credentials first"))
        return checks
    return checks + [check for (kind, name), places in sorted(names.items())
                     for check in _name_checks(sink, kind, name, places)]


def _wrong_url(response, failure: Failure | None) -> bool:
    """Whether an answer says the server at this URL cannot serve the API (see the module docstring)."""
    return failure is not None and (response.status_code in (404, 405) or failure.verdict == RETRY)


def _name_checks(sink, kind: str, name: str, places: list[str]) -> list[Check]:
    """One ok check for a name the case system has; else one failed check per place using it."""
    try:
        found = _resolve(sink, kind, name)
    except Failed as exc:
        problem = exc.failure.message
    except Exception as exc:  # noqa: BLE001 - never raise from check()
        problem = f"{type(exc).__name__}: {exc}"
    else:
        return [Check("catalogus", True, f"{kind} {name!r}: {found}")]
    return [Check("catalogus", False, f"{place}: {problem}") for place in places]


def _resolve(sink, kind: str, name: str) -> str:
    """The URL ``name`` resolves to, as a delivery would resolve it; raises :class:`Failed`."""
    from ...routing import Routing

    if kind == "zaaktype":
        url = sink._zaaktype(name)
    elif kind == "informatieobjecttype":
        url = sink._informatieobjecttype(Routing("attach", informatieobjecttype=name))
    elif kind == "zaak":
        zaak = sink._find_zaak(name)
        if zaak is None:
            raise Failed(Failure(CONFIGURATION, f"zaak {name!r} not found "
                                 f"(bronorganisatie {sink.options['bronorganisatie']})"))
        return zaak["url"]
    else:
        raise ValueError(f"unknown kind of name {kind!r}")
    if url == name:  # given as a URL: does it answer?
        sink.client.body(sink.client.request("GET", url, f"GET {kind}"), f"GET {kind}")
    return url
