"""Edits as new versions of the same ZGW documents (connector.sinks.zgw.versions), against the ZGW double.

Each scenario checks what the case system ends up holding: the same documents (no second set), the
next ``versie`` with the new content and a matching ``integriteit``, the earlier version still
retrievable, the document unlocked, and every request valid per the specs.
"""
from __future__ import annotations

import dataclasses
import hashlib

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RETRY, Failed
from connector.message import Raw, parse_iso
from connector.sinks import MemorySteps
from connector.sinks.zgw import ZgwSink, document_identificatie
from tests.test_rendition import load_message
from .zgw_sink_support import CREATE, Crash, CrashingSteps, by_identificatie
from .zgw_sink_support import double, options, running, server, session, sink  # noqa: F401 (fixtures)

EDITED = "2025-02-19T08:00:00Z"


def edit_of(message, text="Melding: de tegels liggen er nog steeds los.", raw_changes=True):
    """The message as edited on the platform: new text, ``edited_at`` and ``version`` (and raw JSON)."""
    raw = message.raw
    if raw_changes:
        raw = Raw(body=raw.body.replace(b'"edited_at":null', f'"edited_at":"{EDITED}"'.encode()) + b" ",
                  media_type=raw.media_type, page_url=raw.page_url, fetched_at=parse_iso(EDITED))
    return dataclasses.replace(message, text=text, html=f"<p>{text}</p>", version=EDITED,
                               edited_at=parse_iso(EDITED), raw=raw)


def stored(double, url):
    return next(d for d in double.documents if d["url"] == url)


def versions_of(double, url) -> dict[int, bytes]:
    """Every version's content of the document at ``url``, as the double serves them."""
    uuid = url.rsplit("/", 1)[1]
    with double.state.lock:
        older = {n: double.state.blob(content) for n, (_, content) in double.state.history.get(uuid, {}).items()}
        older[stored(double, url)["versie"]] = double.state.blob(double.state.content[uuid])
    return older


def assert_new_versions(double, one, two, changed=("rendition", "original")):
    assert [d.url for d in two.documents] == [d.url for d in one.documents]   # the same documents
    for document in two.documents:
        current = stored(double, document.url)
        contents = versions_of(double, document.url)
        assert current["versie"] == (2 if document.role in changed else 1), document.role
        assert not current["locked"]
        assert current["integriteit"]["waarde"] == hashlib.sha256(contents[current["versie"]]).hexdigest()
        assert current["bestandsomvang"] == len(contents[current["versie"]])
    links = [z for z in double.zaakinformatieobjecten if z["zaak"] == one.zaak_url]
    assert sorted(z["informatieobject"] for z in links) == sorted(d.url for d in one.documents)   # no second link
    assert double.violations == []


def test_an_edit_becomes_the_next_version_of_the_same_documents(sink, double):
    first = load_message()
    one = sink.deliver(first, CREATE, MemorySteps())
    before = {d.role: versions_of(double, d.url)[1] for d in one.documents}
    edit = edit_of(first)
    two = sink.deliver(edit, CREATE, MemorySteps())
    assert two.zaak_url == one.zaak_url
    assert_new_versions(double, one, two)
    original = next(d for d in two.documents if d.role == "original")
    assert versions_of(double, original.url) == {1: before["original"], 2: edit.raw.body}
    rendition = next(d for d in two.documents if d.role == "rendition")
    assert versions_of(double, rendition.url)[1] == before["rendition"] != versions_of(double, rendition.url)[2]
    assert stored(double, rendition.url)["identificatie"] == document_identificatie(first, "rendition")
    # the same edit delivered again (an admin requeue with fresh steps) adds no third version
    again = sink.deliver(edit, CREATE, MemorySteps())
    assert [stored(double, d.url)["versie"] for d in again.documents] == [2, 2]
    assert double.violations == []


def test_a_file_the_edit_did_not_change_gets_no_new_version(sink, double):
    first = load_message()
    one = sink.deliver(first, CREATE, MemorySteps())
    two = sink.deliver(edit_of(first, raw_changes=False), CREATE, MemorySteps())
    assert_new_versions(double, one, two, changed=("rendition",))
    assert not [path for method, path in double.requests if method == "PATCH" and "original" in path]


@pytest.mark.parametrize("crash_after", ["document:rendition:found", "document:rendition:update",
                                         "document:rendition:unlock", "document:rendition", "link:rendition",
                                         "document:original:update"])
def test_a_crash_anywhere_in_an_update_adds_exactly_one_version(sink, double, crash_after):
    first = load_message()
    one = sink.deliver(first, CREATE, MemorySteps())
    edit = edit_of(first)
    steps = CrashingSteps(crash_after)
    with pytest.raises(Crash):
        sink.deliver(edit, CREATE, steps)
    two = sink.deliver(edit, CREATE, steps)
    assert_new_versions(double, one, two)


def test_a_lock_whose_answer_was_lost_is_taken_back_by_force(sink, double):
    """The worker died after the case system locked the document and before the lock was saved."""
    first = load_message()
    one = sink.deliver(first, CREATE, MemorySteps())
    url = next(d.url for d in one.documents if d.role == "rendition")
    steps = MemorySteps()
    steps.save("document:rendition:lock:sent", {"at": "2025-02-19T08:00:01+00:00"})
    sink.client.request("POST", f"{url}/lock", "lock (the lost answer)", json={})
    two = sink.deliver(edit_of(first), CREATE, steps)
    assert_new_versions(double, one, two)


def test_a_lost_lock_the_case_system_will_not_force_is_a_clear_permanent_error(sink, double, monkeypatch):
    monkeypatch.setattr(double, "forced", False)
    first = dataclasses.replace(load_message(), raw=None)   # one document: the rendition
    one = sink.deliver(first, CREATE, MemorySteps())
    url = one.documents[0].url
    steps = MemorySteps()
    steps.save("document:rendition:lock:sent", {"at": "2025-02-19T08:00:01+00:00"})
    sink.client.request("POST", f"{url}/lock", "lock (the lost answer)", json={})
    with pytest.raises(Failed) as info:
        sink.deliver(edit_of(first, raw_changes=False), CREATE, steps)
    assert info.value.failure.verdict == PERMANENT
    assert "unlock it in the case system" in info.value.failure.message and url in info.value.failure.message


def test_a_document_someone_else_has_locked_is_retried_later_and_left_alone(sink, double):
    first = load_message()
    one = sink.deliver(first, CREATE, MemorySteps())
    url = next(d.url for d in one.documents if d.role == "rendition")
    lock = sink.client.body(sink.client.request("POST", f"{url}/lock", "a person edits it", json={}), "lock")["lock"]
    with pytest.raises(Failed) as info:
        sink.deliver(edit_of(first), CREATE, MemorySteps())
    assert info.value.failure.verdict == RETRY and "locked by someone else" in info.value.failure.message
    assert stored(double, url)["locked"] and stored(double, url)["versie"] == 1
    with double.state.lock:
        assert double.state.locks[url.rsplit("/", 1)[1]] == lock   # the person's lock still holds


def test_without_the_scope_to_update_definitief_documents_the_error_names_it_and_the_lock_is_released(
        sink, double, monkeypatch):
    first = load_message()
    one = sink.deliver(first, CREATE, MemorySteps())
    monkeypatch.setattr(double, "forced", False)
    steps = MemorySteps()
    with pytest.raises(Failed) as info:
        sink.deliver(edit_of(first), CREATE, steps)
    assert info.value.failure.verdict == CONFIGURATION
    assert "documenten.geforceerd-bijwerken" in info.value.failure.message and "edits: documents" in info.value.failure.message
    assert all(not stored(double, d.url)["locked"] and stored(double, d.url)["versie"] == 1 for d in one.documents)
    monkeypatch.setattr(double, "forced", True)   # the admin granted the scope: the same delivery goes on
    two = sink.deliver(edit_of(first), CREATE, steps)
    assert_new_versions(double, one, two)


def test_option_edits_documents_gives_each_edit_documents_of_its_own(options, session, double):
    sink = ZgwSink("zaaksysteem", {**options, "edits": "documents"}, session=session)
    first = load_message()
    one = sink.deliver(first, CREATE, MemorySteps())
    two = sink.deliver(edit_of(first), CREATE, MemorySteps())
    assert one.zaak_url == two.zaak_url
    assert {d.url for d in one.documents}.isdisjoint(d.url for d in two.documents)
    assert len([z for z in double.zaakinformatieobjecten if z["zaak"] == one.zaak_url]) == 4
    assert [stored(double, d.url)["versie"] for d in two.documents] == [1, 1]
    assert double.violations == []


@pytest.mark.parametrize("part_size", [1 << 30, 700])
def test_a_large_file_edit_goes_up_in_parts_as_the_next_version(options, session, double, monkeypatch, part_size):
    monkeypatch.setattr(double, "part_size", part_size)
    sink = ZgwSink("zaaksysteem", {**options, "large_file_threshold": 100}, session=session)
    first = load_message()
    one = sink.deliver(first, CREATE, MemorySteps())
    edit = edit_of(first)
    two = sink.deliver(edit, CREATE, MemorySteps())
    assert_new_versions(double, one, two)
    original = next(d for d in two.documents if d.role == "original")
    assert versions_of(double, original.url)[2] == edit.raw.body
    patches = [path for method, path in double.requests if method == "PATCH"]
    puts = [path for method, path in double.requests if method == "PUT" and "/bestandsdelen/" in path]
    assert len(patches) == 2 and len(puts) >= 2 + (2 if part_size == 700 else 0)
    assert by_identificatie(double.documents, document_identificatie(first, "original"))[0]["url"] == original.url
