"""A post's whole story for the helpdesk (``/status/messages/<channel>/<id>``) and finding the post from
"yesterday 14:02" (``/status/messages?channel=&since=&until=``): versions, rule, zaak, documents, steps,
attempts, the deletion mark; keyset pages; Amsterdam time; 404 and 400 as JSON."""
from __future__ import annotations

import hashlib

import pytest

from connector import states
from connector.sources.base import Deletion

from .conftest import make_message, sqlite_only
from .status_support import AUTH, CHANNEL, SINK, ZAAK_URL, deliver, delivery_of, fail, store_post, utc
from .web_support import SECRETS, make_app


@pytest.fixture
def web(tmp_path, store_url):
    """The status API on a SQLite and a PostgreSQL store (issue 13)."""
    app, store, _ = make_app(tmp_path, store_url=store_url)
    yield app.test_client(), store
    store.close()


def get(client, path, code=200):
    response = client.get(path, headers=AUTH)
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.json


def test_the_story_of_an_edited_post_delivered_after_a_retry(web):
    client, store = web
    first = store_post(store, "777", text="eerste versie", rule="quoted-zaak")
    deliver(store, first)
    second = store_post(store, "777", text="bewerkt", version="2026-01-01T12:30:00Z", rule="quoted-zaak")
    fail(store, second, status=503)
    with store._write():
        store._transition(delivery_of(store, second), states.PENDING)
    deliver(store, second)

    story = get(client, f"/status/messages/{CHANNEL}/777")
    assert (story["channel"], story["id"], story["deleted"]) == (CHANNEL, "777", None)
    assert [v["message_id"] for v in story["versions"]] == [first, second]
    assert [v["version"] for v in story["versions"]] == ["", "2026-01-01T12:30:00Z"]
    version = story["versions"][1]
    body = store.message_original(second)["body"]
    assert version["sha256"] == hashlib.sha256(body).hexdigest() and version["size"] == len(body)
    assert version["fetched_at"].startswith("2026-01-01T13:00") and version["stored_at"]

    [delivery] = version["deliveries"]
    assert (delivery["sink"], delivery["state"], delivery["rule"], delivery["source"], delivery["action"]) == (
        SINK, "delivered", "quoted-zaak", "rules.yaml:7", "attach")
    assert delivery["zaak"] == {"url": ZAAK_URL, "identificatie": "ZAAK-1"}
    assert delivery["documents"] == [{"url": "https://openzaak.example.nl/documenten/1"}]
    assert [a["state"] for a in delivery["attempts"]] == ["pending", "in_progress", "retry_wait", "pending",
                                                          "in_progress", "delivered"]
    failed = delivery["attempts"][2]
    assert (failed["status"], failed["verdict"], failed["from"]) == (503, "retry", "in_progress")
    assert "503" in failed["error"]
    steps = {s["name"]: {f["key"]: f["value"] for f in s["fields"]} for s in delivery["steps"]}
    assert steps["zaak"]["identificatie"] == "ZAAK-1"
    assert steps["document"]["lock"] == "***", "a document's lock is a capability: masked as on the web page"


def test_the_story_shows_the_deletion_on_the_platform_and_what_the_sinks_were_told(web):
    client, store = web
    deliver(store, store_post(store, "9"))
    store.save_page(CHANNEL, [], None, deletions=[Deletion(id="9", reason="404 Not Found on re-check",
                                                           at=utc(2026, 2, 1, 9))])
    story = get(client, f"/status/messages/{CHANNEL}/9")
    assert story["deleted"] == {"at": "2026-02-01T09:00:00.000Z", "reason": "404 Not Found on re-check"}
    [notice] = story["versions"][-1]["notices"]
    assert (notice["sink"], notice["state"]) == (SINK, "pending")


@pytest.mark.parametrize("platform_id, path", [
    ("https://www.example.nl/nieuws/1", "https://www.example.nl/nieuws/1"),  # a feed's guid is often a URL
    ("regel\nbreuk", "regel%0Abreuk"),
])
def test_a_platform_id_with_slashes_or_a_line_break_is_found(web, platform_id, path):
    client, store = web
    store_post(store, platform_id, channel="nieuws")
    assert get(client, f"/status/messages/nieuws/{path}")["id"] == platform_id
    assert "no message" in get(client, f"/status/messages/nieuws/{path}x", 404)["error"]


@pytest.mark.parametrize("path", [f"/status/messages/{CHANNEL}/404", "/status/messages/geen-kanaal/1"])
def test_an_unknown_message_is_a_json_404_that_says_how_to_find_it(web, path):
    client, store = web
    store_post(store, "1")
    refused = get(client, path, 404)
    assert "no message" in refused["error"] and "/status/messages?" in refused["error"]


def test_the_story_holds_no_secret(web):
    client, store = web
    deliver(store, store_post(store, "1"))
    text = client.get(f"/status/messages/{CHANNEL}/1", headers=AUTH).get_data(as_text=True)
    assert not [secret for secret in SECRETS if secret in text]


# -- finding the post ---------------------------------------------------------------------------

def test_the_post_from_yesterday_1402_amsterdam_time(web):
    client, store = web
    store_post(store, "a", text="om 13:55", created=utc(2026, 1, 14, 12, 55))
    store_post(store, "b", text="om 14:02", created=utc(2026, 1, 14, 13, 2))  # winter: UTC+1
    store_post(store, "c", text="om 14:20", created=utc(2026, 1, 14, 13, 20))
    store_post(store, "d", text="ander kanaal", channel="nieuws", created=utc(2026, 1, 14, 13, 2))
    found = get(client, f"/status/messages?channel={CHANNEL}&since=2026-01-14T14:00&until=2026-01-14T14:10")
    assert [m["id"] for m in found["messages"]] == ["b"] and found["next_before"] is None
    [post] = found["messages"]
    assert post["excerpt"] == "om 14:02" and post["deliveries"] == [{"sink": SINK, "state": "pending"}]
    same = get(client, f"/status/messages?channel={CHANNEL}&since=2026-01-14T13:00Z&until=2026-01-14T13:10Z")
    assert [m["id"] for m in same["messages"]] == ["b"], "an explicit offset is taken as given"
    day = get(client, "/status/messages?since=2026-01-14&until=2026-01-14")
    assert [m["id"] for m in day["messages"]] == ["d", "c", "b", "a"], "a date is that whole day, newest first"
    assert get(client, "/status/messages?since=2026-01-15")["messages"] == []


def test_the_list_is_paged_by_keyset_at_most_100_a_page(web):
    client, store = web
    plans = [(make_message(str(n), channel=CHANNEL, text="x" * 300), []) for n in range(105)]
    store.save_page(CHANNEL, plans, None)
    first = get(client, "/status/messages")
    assert len(first["messages"]) == 100 and first["next_before"]
    assert len(first["messages"][0]["excerpt"]) <= 140 and first["messages"][0]["excerpt"].endswith("…")
    rest = get(client, f"/status/messages?before={first['next_before']}")
    assert len(rest["messages"]) == 5 and rest["next_before"] is None
    ids = [m["id"] for m in first["messages"] + rest["messages"]]
    assert sorted(ids, key=int) == [str(n) for n in range(105)]
    small = get(client, "/status/messages?limit=3")
    assert [m["id"] for m in small["messages"]] == ["104", "103", "102"]


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
@pytest.mark.parametrize("query", ["since=gisteren", "until=2026-13-01", "before=-1", "before=abc", "limit=0",
                                   "limit=101", "since=2026-01-01T25:00", "before=" + "9" * 5000,
                                   "before=9223372036854775808"])
def test_a_bad_parameter_is_a_json_400(web, query):
    client, _ = web
    refused = get(client, f"/status/messages?{query}", 400)
    assert refused["error"]


@pytest.mark.parametrize("query, found", [
    ("since=9999-12-31T23:59:59-01:00", []), ("until=9999-12-31", ["1"]), ("until=0001-01-01T00:30%2B01:00", []),
    ("since=2026-01-14t14:01:60.1234567891z", ["1"]), ("since=2026-01-14t14:02:00.0011111z", []),
])
def test_a_valid_time_at_the_edge_of_the_calendar_is_no_error(web, query, found):
    """RFC 3339 allows a leap second, lower case and many decimals; a day after 9999-12-31 lies beyond any post."""
    client, store = web
    store_post(store, "1", created=utc(2026, 1, 14, 14, 2))
    assert [m["id"] for m in get(client, f"/status/messages?{query}")["messages"]] == found
