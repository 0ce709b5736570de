"""The dashboard's charts: messages fetched and documents delivered per hour over the last three days, and
the delivery latency per day, from the store's events; drawn as plain SVG (no script, CSP-safe)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from connector import states
from connector.message import fixed_iso
from connector.routing import Routing
from connector.store import DeliveryPlan

from .conftest import make_message
from .web_support import logged_in, make_app

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=timezone.utc)


def seeded(store):
    """Three messages (published 10, 40 and 70 minutes before their delivery), delivered at 14:xx and 15:xx."""
    plan = DeliveryPlan("zaken", Routing("create", rule="r", zaaktype="SOCIAL-MELDING"), states.PENDING)
    for number in (1, 2, 3):
        store.save_page("gemeente-mastodon", [(make_message(str(number), channel="gemeente-mastodon"), [plan])], {})
    for row in store.claim_due(limit=10):
        store.mark_delivered(row.id, "http://zaken/1", "Z-1", [])
    delivered = [NOW - timedelta(minutes=80), NOW - timedelta(minutes=20), NOW - timedelta(minutes=10)]
    published = [d - timedelta(minutes=m) for d, m in zip(delivered, (10, 40, 70))]
    with store.db.write():
        for number, (at, created) in enumerate(zip(delivered, published), 1):
            message_id = store.query("select id from messages where platform_id = ?", [str(number)])[0]["id"]
            store.db.execute("update messages set created_at = ?, stored_at = ? where id = ?",
                             [fixed_iso(created), fixed_iso(created + timedelta(minutes=1)), message_id])
            store.db.execute("update events set at = ? where message_id = ? and kind = 'delivery.delivered'",
                             [fixed_iso(at), message_id])


def test_hourly_counts_and_latency(tmp_path, store_url):
    _, store, _ = make_app(tmp_path, store_url=store_url)
    seeded(store)
    chart = store.hourly(72, now=NOW)
    assert len(chart["hours"]) == 72 and chart["hours"][-1] == "2026-03-04T15"
    delivered = dict(zip(chart["hours"], chart["delivered"]))
    assert (delivered["2026-03-04T14"], delivered["2026-03-04T15"]) == (1, 2)
    assert sum(chart["delivered"]) == 3 and sum(chart["fetched"]) == 3
    latency = chart["latency"]
    assert (latency["count"], latency["median"], latency["max"]) == (3, 40.0, 70.0)
    assert latency["until"] == fixed_iso(NOW - timedelta(minutes=10))
    assert store.latency(sample=2) == {**latency, "count": 2, "median": 55.0, "p95": 70.0,
                                       "since": fixed_iso(NOW - timedelta(minutes=20))}  # the newest two
    assert store.hourly(72, now=NOW + timedelta(days=4))["delivered"] == [0] * 72  # outside the window
    store.close()


def test_the_dashboard_draws_the_charts_as_plain_svg(tmp_path, store_url):
    app, store, _ = make_app(tmp_path, store_url=store_url)
    seeded(store)
    page = logged_in(app, store).get("/").get_data(as_text=True)
    assert "Documenten afgeleverd per uur" in page and "Berichten opgehaald per uur" in page
    assert len(re.findall(r"<rect ", page)) == 2 * 72
    assert "<script" not in page and "style=" not in page
    store.close()
