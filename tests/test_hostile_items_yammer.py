"""Hostile items on the Yammer channel: the checks of ``test_hostile_items.py`` (one defective item
costs that item only, through the engine into a real store), with the Yammer replay double and the
variants in ``fixtures/hostile/yammer/`` (cut from the recorded message, see its README)."""
from __future__ import annotations

import pytest

from connector_doubles.yammer import YammerDouble, serve

from . import test_hostile_items as hostile
from .yammer_support import REPLAY, TOKEN

world = hostile.world
RECORDED_ID = b'{"id":5,'


class YammerKind:
    """The Yammer double with the derived group 7 (7 messages, the recorded one among them)."""

    name = "yammer"
    quiet_requests = 2  # a poll with nothing new: newer_than the watermark, the re-check page
    variants = {
        "lone-surrogate-body": "body.plain: contains a lone surrogate",
        "lone-surrogate-url": "web_url: contains a lone surrogate",
        "invalid-utf8": "not valid UTF-8",
        "year-9999": "created_at: 9999-12-31T23:59:59Z",
        "year-0001-east-of-utc": "created_at: '0001/01/01 00:00:00 +0100' is not a date that exists",
        "iso-date": "created_at: '2012-12-08T01:23:16Z' is not a Yammer date",
        "nul": "body.plain: contains a NUL character",
        "huge-text": "bytes, more than",
        "deeply-nested": "nested too deeply",
        "wrong-types": "attachments: expected a list of objects",
    }

    def __init__(self):
        self.double = YammerDouble(REPLAY, token=TOKEN, rate_limit=1000)
        self.bad_id = ""

    def serve(self):
        return serve(self.double)

    def options(self, url: str) -> dict:
        return {"group_id": "7", "token": "${YAMMER_HOSTILE_TOKEN}", "base_url": url + "/api/v1"}

    def requests(self) -> int:
        return len(self.double.requests)

    def publish_good(self) -> None:
        self.double.add_message(self.double.messages()[-1])  # a copy of the oldest, the recorded one

    def publish(self, bad: bytes) -> bytes:
        """Good, bad, good on top of the group; returns the bytes served for the bad one."""
        self.publish_good()
        self.bad_id = self.double.add_message(self.double.messages()[-1])
        assert bad.startswith(RECORDED_ID)
        served = b'{"id":%s,' % self.bad_id.encode() + bad[len(RECORDED_ID):]  # its own id, as the server made it
        self.double.set_text(self.bad_id, served)
        self.publish_good()
        return served

    def good_ids(self) -> set[str]:
        return {str(m["id"]) for m in self.double.messages() if m}  # the bad one is served as text only

    def cursor_passed(self, state: dict) -> bool:
        return int(state["watermark"]) >= int(self.bad_id)


@pytest.mark.parametrize("variant", list(YammerKind.variants))
def test_hostile_item_costs_only_itself(world, monkeypatch, variant):
    monkeypatch.setenv("YAMMER_HOSTILE_TOKEN", TOKEN)
    start, _ = world
    kind = YammerKind()
    served = kind.publish(hostile.variant_bytes(kind.name, variant))
    connector = start(kind)

    result = connector.poll(hostile.CHANNEL)
    assert result.error is None, result.error
    held = hostile.quarantine(connector)
    assert [q["raw"] for q in held] == [served]
    assert kind.variants[variant] in held[0]["reason"], held[0]["reason"]
    assert held[0]["item_id"] == kind.bad_id
    messages = hostile.stored(connector)
    assert set(messages) == kind.good_ids()
    assert kind.cursor_passed(connector.store.channel_state(hostile.CHANNEL))

    kind.publish_good()
    again = connector.poll(hostile.CHANNEL)
    assert again.error is None and again.new == 1 and again.quarantined == 0

    before = kind.requests()
    quiet = connector.poll(hostile.CHANNEL)
    assert quiet.error is None and quiet.new == 0 and quiet.quarantined == 0
    assert kind.requests() - before <= kind.quiet_requests
    assert len(hostile.quarantine(connector)) == len(held)
