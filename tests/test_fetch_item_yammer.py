"""One Yammer message by its URL (``item_id_for_url``, ``fetch_item``) against the local replay double:
message, thread and web front end URLs, the message a poll gives (its group's references read as
poll reads them), a deleted message as permanent, Yammer's refusals and rate limit as poll has them."""
from __future__ import annotations

import base64
import json

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY, Failed
from connector.sources.yammer import YammerSource
from connector.sources.yammer_message import thread_link

from . import yammer_support
from .yammer_support import FIXTURES, by_id, full_poll, messages_by_id, source

double = pytest.fixture(yammer_support.double)
server = pytest.fixture(yammer_support.server)


def offline() -> YammerSource:
    return YammerSource("engage", {"group_id": "7", "token": "t"})


def token(kind: str, ident) -> str:
    return base64.urlsafe_b64encode(json.dumps({"_type": kind, "id": ident}).encode()).decode().rstrip("=")


@pytest.mark.parametrize("url, expected", [
    (by_id(302)["web_url"], "302"),                                       # the message's own permalink
    (by_id(302)["url"], "302"),                                           # its API URL
    ("http://yammer.com/yammer-inc.com/messages/302/?trk=1", "302"),
    ("https://www.yammer.com/yammer-inc.com/threads/301", "301"),        # a thread: its first message
    (thread_link("https://web.yammer.com", "301"), "301"),              # the new front end's link
    (f"https://web.yammer.com/main/org/gemeente.nl/threads/{token('Thread', 304)}", "304"),
    (f"https://engage.cloud.microsoft/main/groups/eyJfdHlwZSI6Ikdyb3VwIn0/threads/{token('Message', '305')}",
     "305"),
])
def test_a_message_or_thread_url_names_the_message(url, expected):
    assert offline().item_id_for_url(url) == expected


@pytest.mark.parametrize("url", [
    "https://www.yammer.com/yammer-inc.com/users/67",                     # a person
    "https://www.yammer.com/yammer-inc.com/groups/7",                     # the group
    "https://www.yammer.com/yammer-inc.com/messages/abc",
    "https://www.yammer.com/yammer-inc.com/messages/0",
    f"https://web.yammer.com/main/threads/{token('Group', 7)}",           # a token naming no thread
    "https://web.yammer.com/main/threads/!!!notbase64",
    "https://www.yammer.com.evil.example/yammer-inc.com/messages/302",
    "https://teams.microsoft.com/yammer-inc.com/messages/302",
    "javascript:alert(1)//www.yammer.com/x/messages/302",
    "", None,
])
def test_other_urls_are_not_this_channels(url):
    assert offline().item_id_for_url(url) is None


@pytest.mark.parametrize("message_id", ["5", "302", "303", "306"])  # the recorded one, replies, an attachment
def test_the_fetched_message_is_the_one_a_poll_gives(server, double, message_id):
    polled = messages_by_id(full_poll(server))[message_id]
    double.requests.clear()
    page = source(server).fetch_item(by_id(message_id)["web_url"])
    assert page.quarantined == [] and page.state == {}
    [message] = page.messages
    assert message.to_dict() == polled.to_dict()
    assert message.raw.body == polled.raw.body and message.version == polled.version
    assert [(r["path"], r["args"]) for r in double.requests] == [
        (f"/api/v1/messages/{message_id}.json", {}),
        ("/api/v1/messages/in_group/7.json", {"older_than": str(int(message_id) + 1), "limit": "1"})]


def test_the_recorded_message_keeps_its_exact_bytes(server, double):
    [message] = source(server).fetch_item("https://www.yammer.com/yammer-inc.com/threads/5").messages
    assert message.raw.body == (FIXTURES / "message.json").read_bytes()
    assert message.author.name  # named from its group's references, as a poll names it


def test_a_deleted_message_is_permanent_and_says_so(server, double):
    double.delete_message("304")
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(by_id(304)["web_url"])
    failure = caught.value.failure
    assert failure.verdict == PERMANENT and failure.status == 404 and "no such item" in failure.message
    assert "Record not found" in failure.message  # Yammer's own words


def test_a_refused_token_is_configuration(server, double):
    with pytest.raises(Failed) as caught:
        source(server, token="wrong").fetch_item(by_id(302)["web_url"])
    failure = caught.value.failure
    assert failure.verdict == CONFIGURATION and "Token not found" in failure.message


def test_yammers_rate_limit_is_rate_limited_with_retry_at(server, double):
    double.rate_limit = 0
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(by_id(302)["web_url"])
    failure = caught.value.failure
    assert failure.verdict == RATE_LIMITED and failure.retry_at is not None and "10 message calls" in failure.message


def test_a_rate_limit_on_the_second_call_is_rate_limited_too(server, double):
    double.fail_next(429, after=1, headers={"Retry-After": "30"})
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(by_id(302)["web_url"])
    assert caught.value.failure.verdict == RATE_LIMITED


def test_a_server_error_is_retried(server, double):
    double.fail_next(500)
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(by_id(302)["web_url"])
    assert caught.value.failure.verdict == RETRY


def test_a_malformed_message_is_quarantined_with_its_bytes(server, double):
    text = '{"id":302,"thread_id":301,"group_id":7,"sender_id":67,"created_at":"yesterday","body":{"plain":"x"}}'
    double.set_text("302", text)
    page = source(server).fetch_item(by_id(302)["web_url"])
    assert page.messages == [] and page.state == {}
    [held] = page.quarantined
    assert held.raw == text.encode() and held.item_id == "302" and "created_at" in held.reason


def test_a_message_its_group_does_not_list_is_still_fetched(server, double):
    double.fail_next(404, after=1)  # the group's listing refused: the message as first fetched
    page = source(server).fetch_item(by_id(302)["web_url"])
    [message] = page.messages
    assert message.id == "302" and message.raw.body == double.find("302")[1].text.encode()


def test_an_answer_with_references_is_used_as_it_is(server, double):
    sender = next(r for r in yammer_support.replay()["references"] if r["type"] == "user"
                  and r["id"] == by_id(302)["sender_id"])
    double.fail_next(200, body={"messages": [by_id(302)], "references": [sender], "meta": {}})
    page = source(server).fetch_item(by_id(302)["web_url"])
    [message] = page.messages
    assert message.id == "302" and message.author.name == sender["full_name"]
    assert [r["path"] for r in double.requests] == ["/api/v1/messages/302.json"]  # no second call needed
