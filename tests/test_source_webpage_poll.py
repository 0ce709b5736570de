"""The web channel's poll: configured URLs recaptured once ``recapture`` has passed, with a cursor
saying which URL was captured when, as which message and with which hash."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import marshmallow
import pytest

from connector.failures import PERMANENT, Failed
from connector.message import iso, parse_iso
from connector.sources.webpage import WebPageSource

from .webpage_support import ARTICLE, PREZI, served, sha256, source
from .webpage_support import running_site

site = pytest.fixture(running_site, name="site")


def drain(src, state):
    pages = []
    try:
        for page in src.poll(state):
            pages.append(page)
    except Failed as failed:
        return pages, failed.failure
    return pages, None


def aged(state: dict, seconds: float = 86400 * 2) -> dict:
    """``state`` as if every capture had been made ``seconds`` earlier."""
    state = copy.deepcopy(state)
    for entry in state["pages"].values():
        entry["at"] = iso(parse_iso(entry["at"]) - timedelta(seconds=seconds))
    return state


def test_first_poll_captures_every_url_and_remembers_it(site):
    web, server = site
    urls = [server.url + ARTICLE, server.url + PREZI]
    before = datetime.now(timezone.utc)
    pages, failure = drain(source(urls), None)
    assert failure is None and [p.url for p in pages] == urls
    assert [len(p.messages) for p in pages] == [1, 1]
    state = pages[-1].state
    assert list(state["pages"]) == urls
    article = state["pages"][urls[0]]
    assert article["id"] == server.url + "/nieuws/speeltuin-stadspark"
    assert article["version"] == sha256(served(server, ARTICLE))[:16] == pages[0].messages[0].version
    assert parse_iso(article["at"]) >= before - timedelta(seconds=1) and article["first"] == article["at"]
    assert pages[0].state["pages"].keys() == {urls[0]}  # each page's state is valid once it is stored


def test_nothing_is_fetched_before_recapture_has_passed(site):
    web, server = site
    src = source([server.url + ARTICLE])
    state = drain(src, None)[0][-1].state
    count = len(web.requests)
    pages, failure = drain(src, state)
    assert failure is None and pages == [] and len(web.requests) == count


def test_an_unchanged_page_gives_no_message_but_a_new_check_time(site):
    web, server = site
    src = source([server.url + ARTICLE])
    state = aged(drain(src, None)[0][-1].state)
    frozen = copy.deepcopy(state)
    [page] = drain(src, state)[0]
    assert page.messages == [] and state == frozen  # the caller's state is never touched
    entry, old = page.state["pages"][server.url + ARTICLE], state["pages"][server.url + ARTICLE]
    assert entry["version"] == old["version"] and entry["first"] == old["first"] and entry["at"] > old["at"]


def test_a_changed_page_is_a_new_version(site):
    web, server = site
    url = server.url + "/changing"
    src = source([url])
    [first] = drain(src, None)[0]
    web.edit("Tweede versie: de openingstijden zijn gewijzigd.")
    [second] = drain(src, aged(first.state))[0]
    [old], [new] = first.messages, second.messages
    assert new.id == old.id == url and new.version != old.version
    assert new.version == sha256(served(server, "/changing"))[:16]
    assert "openingstijden zijn gewijzigd" in new.text
    assert new.created_at == old.created_at  # no date on the page: when it was first captured
    assert new.edited_at is not None and new.edited_at > old.created_at
    assert second.state["pages"][url]["version"] == new.version


def test_a_page_gone_on_recapture_is_a_deletion_once(site):
    web, server = site
    url = server.url + "/gone"
    src = source([url])
    [first] = drain(src, None)[0]
    web.remove()
    [gone] = drain(src, aged(first.state))[0]
    [deletion] = gone.deletions
    assert deletion.id == first.messages[0].id and deletion.url == url and "404" in deletion.reason
    [again] = drain(src, aged(gone.state))[0]
    assert again.deletions == [] and again.messages == []
    web.remove(False)
    [back] = drain(src, aged(again.state))[0]
    assert back.messages == [] and back.state["pages"][url]["gone"] is None  # the same version again


def test_a_failing_url_does_not_hold_up_the_others_and_fails_the_poll_at_the_end(site):
    web, server = site
    urls = [server.url + "/nowhere", server.url + ARTICLE]
    pages, failure = drain(source(urls), None)
    assert [p.url for p in pages] == [urls[1]] and len(pages[0].messages) == 1
    assert failure.verdict == PERMANENT and "page not found" in failure.message
    assert list(pages[-1].state["pages"]) == [urls[1]]  # the failed URL is tried again next poll


def test_urls_no_longer_configured_are_forgotten(site):
    web, server = site
    state = drain(source([server.url + ARTICLE]), None)[0][-1].state
    pages, _ = drain(source([server.url + PREZI]), state)
    assert list(pages[-1].state["pages"]) == [server.url + PREZI]


def test_check_reports_settings_and_connection(site):
    web, server = site
    checks = source([server.url + ARTICLE]).check()
    assert [(c.name, c.ok) for c in checks] == [("settings", True), ("connection", True)]
    assert "HTTP 200 text/html" in checks[1].message
    failing = source([server.url + "/nowhere"]).check()
    assert failing[-1].name == "connection" and not failing[-1].ok and "page not found" in failing[-1].message
    refused = source([server.url + ARTICLE], trusted_networks=[]).check()
    assert not refused[-1].ok and "loopback" in refused[-1].message


@pytest.mark.parametrize("given,words", [
    ({"urls": ["ftp://example.org/x"]}, "urls"),
    ({"max_bytes": 64 * 1024 * 1024}, "max_bytes"),
    ({"recapture": "often"}, "recapture"),
    ({"trusted_networks": ["not a network"]}, "trusted_networks"),
    ({"page_hosts": ["https://x/"]}, "page_hosts"),
    ({"colour": "blue"}, "colour"),
    ({"urls": ["https://user:Geheim-123@www.gemeente.nl/"]}, "urls"),
])
def test_options_are_validated(given, words):
    with pytest.raises(marshmallow.ValidationError) as caught:
        WebPageSource("web", given)
    assert words in caught.value.messages


def test_repr_and_media_policy():
    src = WebPageSource("web", {"urls": ["https://www.gemeente.nl/a"]})
    assert repr(src) == "<WebPageSource 'web' 1 url(s)>"
    policy = src.media_policy(trusted_networks=("10.0.0.0/8",))
    assert policy.host_allowed("cdn.example.org")  # a page's images may be anywhere public
    assert policy.address_refusal("10.1.2.3") is None and policy.address_refusal("127.0.0.1")
    limited = WebPageSource("web", {"page_hosts": ["www.gemeente.nl"], "media_hosts": ["*.cdn.nl"]}).media_policy()
    assert limited.host_allowed("img.cdn.nl") and not limited.host_allowed("evil.example")


def test_a_bug_while_capturing_one_url_costs_that_url_only(site, monkeypatch):
    web, server = site
    from connector.sources import webpage

    real = webpage.capture

    def buggy(url, *args, **kwargs):
        if url.endswith("/changing"):
            return {}["a bug"]
        return real(url, *args, **kwargs)
    monkeypatch.setattr(webpage, "capture", buggy)
    pages, failure = drain(source([server.url + "/changing", server.url + ARTICLE]), None)
    assert [p.url for p in pages] == [server.url + ARTICLE] and len(pages[0].messages) == 1
    assert failure.verdict == "retry" and "internal error capturing" in failure.message and "KeyError" in failure.message
