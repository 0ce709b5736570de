"""Large files through the Documenten API's large-file flow (bestandsdelen, a lock per part, unlock),
against the ZGW double with 2 MiB parts: the sink (connector/sinks/zgw/large.py) and the double
(doubles/connector_doubles/zgw/documents.py)."""
from __future__ import annotations

import base64
import hashlib
import os

import pytest
import requests

import connector.sinks.zgw as zgw_sink
from connector.failures import Failed
from connector.record import ORIGINAL, RecordFile
from connector.sinks import MemorySteps
from connector.sinks.zgw import ZgwSink, document_identificatie
from connector.sinks.zgw.large import CHUNK, PartBody
from tests.conftest import later, make_message
from tests.zgw_double_support import RSIN, auth, iot_url
from tests.zgw_sink_support import (ATTACH, Crash, CrashingSteps, base_options, by_identificatie,  # noqa: F401
                                    double, running, server, session)

MiB = 1 << 20


@pytest.fixture
def parts_of_2mib(double):
    """The shared double with 2 MiB bestandsdelen (Open Zaak's default is 4 GiB: one part)."""
    double.part_size = 2 * MiB
    yield double
    double.part_size, double.part_locks = 4 << 30, "document"


@pytest.fixture
def big_file(tmp_path):
    """5 MiB of random bytes on disk (random: nothing on the way may compress it)."""
    path = tmp_path / "opname.bin"
    path.write_bytes(os.urandom(5 * MiB))
    return path


@pytest.fixture
def large_original(monkeypatch, big_file):
    """Records whose original is ``big_file`` on disk (the core builds media records later; the
    sink takes any RecordFile, bytes or a path)."""
    real = zgw_sink.other_files

    def other_files(message, titel=""):   # the files the sink uploads besides the rendition
        big = RecordFile.from_path(ORIGINAL, big_file, "video/mp4", "opname.mp4", "opname", "Een opname.")
        return tuple(big if f.role == ORIGINAL else f for f in real(message, titel))

    monkeypatch.setattr(zgw_sink, "other_files", other_files)
    return big_file


@pytest.fixture
def sink(server, session):
    options = base_options(zaken_url=server.zaken_url, documenten_url=server.documenten_url,
                           catalogi_url=server.catalogi_url, large_file_threshold=MiB)
    return ZgwSink("zaaksysteem", options, session=session)


def download(url: str) -> bytes:
    response = requests.get(url.split("?")[0] + ("" if url.endswith("/download") else "/download"),
                            headers=auth(Accept="*/*"))
    assert response.status_code == 200, response.text
    return response.content


def original_of(double, message) -> dict:
    [document] = by_identificatie(double.documents, document_identificatie(message, ORIGINAL))
    return document


def puts(double) -> list[str]:
    return [path for method, path in double.requests if method == "PUT"]


def creates(double) -> int:
    return sum(1 for method, path in double.requests
               if method == "POST" and path.endswith("/enkelvoudiginformatieobjecten"))


def test_a_5_mib_file_arrives_in_three_parts_whole_and_with_its_checksum(parts_of_2mib, sink, large_original):
    double, message = parts_of_2mib, make_message(id="large-1")
    delivered = sink.deliver(message, ATTACH, MemorySteps())

    assert len(puts(double)) == 3   # 2 + 2 + 1 MiB
    document = original_of(double, message)
    assert document["locked"] is False and document["bestandsdelen"] == []
    assert document["bestandsomvang"] == 5 * MiB
    content = download(document["url"])
    assert content == large_original.read_bytes()
    assert document["integriteit"]["algoritme"] == "sha_256"
    assert document["integriteit"]["waarde"] == hashlib.sha256(content).hexdigest()
    assert [d.role for d in delivered.documents] == ["rendition", "original"]
    # the rendition is small: base64 in the create, no parts
    assert creates(double) == 2 and len(puts(double)) == 3
    assert double.violations == []


@pytest.mark.parametrize("elsewhere", ["http://attacker.example:8080/bestandsdelen/x", "https://127.0.0.1:1/x"])
def test_a_part_on_another_host_is_refused_before_the_token_goes_there(parts_of_2mib, sink, large_original,
                                                                       monkeypatch, elsewhere):
    """A hostile or misconfigured case system names a bestandsdeel URL elsewhere: no PUT, a clear failure."""
    import connector.sinks.zgw.large as large

    real = large.create

    def redirected(*args, **kwargs):
        created = real(*args, **kwargs)
        return {**created, "parts": [{**part, "url": elsewhere} for part in created["parts"]]}

    monkeypatch.setattr(large, "create", redirected)
    with pytest.raises(Failed) as caught:
        sink.deliver(make_message(id="large-foreign"), ATTACH, MemorySteps())
    assert caught.value.failure.verdict == "permanent" and "will not send to" in caught.value.failure.message
    assert puts(parts_of_2mib) == []


def test_each_part_is_sent_with_its_own_lock(parts_of_2mib, sink, large_original):
    double = parts_of_2mib
    double.part_locks = "own"   # some servers: a different lock per part
    message = make_message(id="large-own")
    sink.deliver(message, ATTACH, MemorySteps())
    assert download(original_of(double, message)["url"]) == large_original.read_bytes()
    assert double.violations == []


def test_a_file_at_the_threshold_keeps_the_base64_path(parts_of_2mib, server, session, large_original):
    double = parts_of_2mib
    options = base_options(zaken_url=server.zaken_url, documenten_url=server.documenten_url,
                           catalogi_url=server.catalogi_url, large_file_threshold=5 * MiB)
    message = make_message(id="at-threshold")
    ZgwSink("zaaksysteem", options, session=session).deliver(message, ATTACH, MemorySteps())
    assert puts(double) == []
    assert download(original_of(double, message)["url"]) == large_original.read_bytes()
    assert double.violations == []


def test_a_crash_between_part_1_and_2_resumes_without_a_second_document(parts_of_2mib, sink, large_original):
    double, message = parts_of_2mib, make_message(id="large-crash")
    steps = CrashingSteps(crash_after="document:original:part:1")
    with pytest.raises(Crash):   # part 1 was uploaded, the worker died before saving that
        sink.deliver(message, ATTACH, steps)
    assert len(puts(double)) == 1 and original_of(double, message)["locked"] is True

    sink.deliver(message, ATTACH, steps)

    assert creates(double) == 2   # rendition and original, each once
    assert len(puts(double)) == 4   # part 1 again (PUT replaces it), then parts 2 and 3
    assert double.census()["documents"][document_identificatie(message, ORIGINAL)] == 1
    assert download(original_of(double, message)["url"]) == large_original.read_bytes()
    assert double.violations == []


def test_a_lost_create_answer_is_looked_up_and_its_parts_uploaded(parts_of_2mib, sink, large_original):
    double, message = parts_of_2mib, make_message(id="large-lost")
    steps = CrashingSteps(crash_after="document:original:created")
    with pytest.raises(Crash):
        sink.deliver(message, ATTACH, steps)
    later(steps)   # the next attempt, after the create has settled
    sink.deliver(message, ATTACH, steps)

    assert creates(double) == 2 and len(puts(double)) == 3
    assert download(original_of(double, message)["url"]) == large_original.read_bytes()
    assert double.violations == []


def test_a_lost_create_answer_with_own_part_locks_is_reported_not_duplicated(parts_of_2mib, sink, large_original):
    double, message = parts_of_2mib, make_message(id="large-lost-own")
    double.part_locks = "own"   # the document's lock was only in the lost answer
    steps = CrashingSteps(crash_after="document:original:created")
    with pytest.raises(Crash):
        sink.deliver(message, ATTACH, steps)
    later(steps)
    with pytest.raises(Failed) as caught:
        sink.deliver(message, ATTACH, steps)
    assert caught.value.failure.verdict == "permanent"
    assert "geforceerd unlock" in caught.value.failure.message
    assert creates(double) == 1 and puts(double) == []   # the original goes first: no second create of it
    assert double.violations == []


def test_a_lost_unlock_answer_is_taken_as_done_once_the_document_is_unlocked(parts_of_2mib, sink, large_original):
    double, message = parts_of_2mib, make_message(id="large-unlock")
    steps = CrashingSteps(crash_after="document:original:unlock")
    with pytest.raises(Crash):
        sink.deliver(message, ATTACH, steps)
    sink.deliver(message, ATTACH, steps)   # its unlock gets a 400, then reads the document: unlocked
    assert creates(double) == 2 and len(puts(double)) == 3
    assert download(original_of(double, message)["url"]) == large_original.read_bytes()
    assert [p for m, p in double.requests if m == "POST" and p.endswith("/unlock")].__len__() == 2
    # the retry's 400 on the unlock is the double's right answer, no violation
    assert double.violations == []


def test_the_part_body_is_streamed_in_chunks_with_its_exact_length(big_file):
    file = RecordFile.from_path(ORIGINAL, big_file, "application/octet-stream", "x.bin", "x", "x")
    body = PartBody(file, offset=2 * MiB, size=2 * MiB, lock="abc", filename="x.bin")
    chunks = list(body)
    assert sum(len(c) for c in chunks) == len(body)
    assert max(len(c) for c in chunks) <= CHUNK
    assert b"".join(chunks[1:-1]) == big_file.read_bytes()[2 * MiB:4 * MiB]
    assert body.content_type.startswith("multipart/form-data; boundary=")


# --- the double on its own ----------------------------------------------------------------------

def _create_large(server, size: int, **fields) -> dict:
    body = {"bronorganisatie": RSIN, "creatiedatum": "2026-02-01", "titel": "Opname", "auteur": "gemeente",
            "taal": "nld", "informatieobjecttype": iot_url(server), "bestandsomvang": size, **fields}
    response = requests.post(f"{server.documenten_url}/enkelvoudiginformatieobjecten", json=body, headers=auth())
    assert response.status_code == 201, response.text
    return response.json()


def _put(part: dict, content: bytes, lock: str) -> requests.Response:
    return requests.put(part["url"], headers=auth(), files={"inhoud": ("deel.bin", content)}, data={"lock": lock})


def _code(response: requests.Response) -> str:
    assert response.status_code == 400, response.text
    return response.json()["invalidParams"][0]["code"]


def test_the_double_refuses_a_wrong_lock_a_wrong_size_and_an_early_unlock(parts_of_2mib, server):
    double = parts_of_2mib
    content = os.urandom(3 * MiB)
    document = _create_large(server, len(content), inhoud="")   # an empty inhoud counts as none
    assert document["locked"] is True and document["lock"]
    first, second = document["bestandsdelen"]
    assert (first["omvang"], second["omvang"]) == (2 * MiB, MiB) and first["voltooid"] is False

    assert _code(_put(first, content[:2 * MiB], "not-the-lock")) == "incorrect-lock-id"
    assert _code(_put(first, content[:MiB], first["lock"])) == "file-size"
    assert _put(first, content[:2 * MiB], first["lock"]).json()["voltooid"] is True
    unlock = f"{document['url']}/unlock"
    assert _code(requests.post(unlock, json={"lock": document["lock"]}, headers=auth())) == "incomplete-upload"
    assert _put(second, content[2 * MiB:], second["lock"]).status_code == 200
    assert _code(requests.post(unlock, json={"lock": "wrong"}, headers=auth())) == "incorrect-lock-id"
    assert requests.post(unlock, json={"lock": document["lock"]}, headers=auth()).status_code == 204

    assert download(document["url"]) == content
    assert _put(first, content[:2 * MiB], first["lock"]).status_code == 404   # the parts are gone
    assert double.violations == []
    assert list(double.state.upload_dir.iterdir()) != []   # the joined file, on disk


def test_the_double_keeps_uploads_on_disk_and_cleans_up_refused_ones(parts_of_2mib, server):
    double = parts_of_2mib
    document = _create_large(server, MiB)
    [part] = document["bestandsdelen"]
    _put(part, os.urandom(MiB), "wrong")
    assert list(double.state.upload_dir.iterdir()) == []   # the refused upload's file is removed
    _put(part, os.urandom(MiB), part["lock"])
    assert [p.name for p in double.state.upload_dir.iterdir()] == [f"part-{part['url'].rsplit('/', 1)[1]}"]
    assert double.violations == []


def test_an_edit_makes_a_new_version_and_the_old_one_stays_readable(double, server):
    created = requests.post(f"{server.documenten_url}/enkelvoudiginformatieobjecten", headers=auth(), json={
        "bronorganisatie": RSIN, "creatiedatum": "2026-02-01", "titel": "Eerste", "auteur": "gemeente",
        "taal": "nld", "informatieobjecttype": iot_url(server), "status": "in_bewerking",
        "inhoud": base64.b64encode(b"versie een").decode()}).json()
    url = created["url"]
    assert _code(requests.patch(url, json={"titel": "x", "lock": "none"}, headers=auth())) == "incorrect-lock-id"
    lock = requests.post(f"{url}/lock", json={}, headers=auth()).json()["lock"]
    patched = requests.patch(url, headers=auth(), json={
        "lock": lock, "titel": "Tweede", "inhoud": base64.b64encode(b"versie twee").decode()})
    assert patched.status_code == 200, patched.text
    assert patched.json()["versie"] == 2 and patched.json()["locked"] is True
    assert requests.post(f"{url}/unlock", json={"lock": lock}, headers=auth()).status_code == 204

    assert requests.get(url, headers=auth()).json()["titel"] == "Tweede"
    old = requests.get(url, params={"versie": 1}, headers=auth()).json()
    assert (old["titel"], old["versie"]) == ("Eerste", 1)
    assert requests.get(f"{url}/download", params={"versie": 1}, headers=auth(Accept="*/*")).content == b"versie een"
    assert download(url) == b"versie twee"
    assert requests.get(url, params={"versie": 7}, headers=auth()).status_code == 404
    assert double.violations == []


def test_an_edit_can_upload_the_new_content_in_parts(parts_of_2mib, server):
    double = parts_of_2mib
    created = requests.post(f"{server.documenten_url}/enkelvoudiginformatieobjecten", headers=auth(), json={
        "bronorganisatie": RSIN, "creatiedatum": "2026-02-01", "titel": "Opname", "auteur": "gemeente",
        "taal": "nld", "informatieobjecttype": iot_url(server),
        "inhoud": base64.b64encode(b"kort").decode()}).json()
    url, content = created["url"], os.urandom(3 * MiB)
    lock = requests.post(f"{url}/lock", json={}, headers=auth()).json()["lock"]
    edited = requests.put(url, headers=auth(), json={
        "lock": lock, "bronorganisatie": RSIN, "creatiedatum": "2026-02-01", "titel": "Opname, heel",
        "auteur": "gemeente", "taal": "nld", "informatieobjecttype": iot_url(server),
        "bestandsomvang": len(content)}).json()
    assert edited["versie"] == 2 and len(edited["bestandsdelen"]) == 2
    offset = 0
    for part in edited["bestandsdelen"]:
        assert part["lock"] == lock   # Open Zaak: the edit's lock on every part
        assert _put(part, content[offset:offset + part["omvang"]], part["lock"]).status_code == 200
        offset += part["omvang"]
    assert requests.post(f"{url}/unlock", json={"lock": lock}, headers=auth()).status_code == 204
    assert download(url) == content
    assert requests.get(f"{url}/download", params={"versie": 1}, headers=auth(Accept="*/*")).content == b"kort"
    assert double.violations == []


def test_an_upload_begun_in_parts_stays_in_parts_when_the_threshold_is_raised(parts_of_2mib, server, session,
                                                                              sink, large_original):
    double, message = parts_of_2mib, make_message(id="large-sticky")
    steps = CrashingSteps(crash_after="document:original:part:1")
    with pytest.raises(Crash):
        sink.deliver(message, ATTACH, steps)
    options = base_options(zaken_url=server.zaken_url, documenten_url=server.documenten_url,
                           catalogi_url=server.catalogi_url, large_file_threshold=64 * MiB)
    ZgwSink("zaaksysteem", options, session=session).deliver(message, ATTACH, steps)
    assert creates(double) == 2 and len(puts(double)) == 4
    assert download(original_of(double, message)["url"]) == large_original.read_bytes()
    assert double.violations == []


def test_a_part_sent_as_json_is_a_spec_violation(parts_of_2mib, server):
    double = parts_of_2mib
    [part] = _create_large(server, 100)["bestandsdelen"]
    response = requests.put(part["url"], json={"inhoud": "eA==", "lock": part["lock"]}, headers=auth())
    assert response.status_code == 400
    assert len(double.violations) == 1 and "Content-Type" in double.violations[0]
    double.violations.clear()
