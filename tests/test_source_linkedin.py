"""The LinkedIn source against the local replay double (127.0.0.1 only): the watermark walk over
LAST_MODIFIED, edits, comments, media, deletions. Failures and limits are in
``test_source_linkedin_failures.py``, normalising saved payloads in ``test_source_linkedin_payload.py``.
"""
from __future__ import annotations

import copy

from connector.message import iso
from connector.sources.base import SOURCES
from connector.sources.linkedin import LinkedInSource

from . import linkedin_support
from .linkedin_support import COMMENTED, drain, ids_of, posts_oldest_first, recorded_comments, source

double, server = linkedin_support.double, linkedin_support.server  # the fixtures


def test_source_is_registered():
    assert SOURCES.get_class("linkedin") is LinkedInSource


def test_first_poll_collects_every_post_once_oldest_first_across_pages(server, double):
    pages, failure = drain(source(server, page_size=3), None)
    assert failure is None
    assert ids_of(pages) == posts_oldest_first()
    listing = [r for r in double.requests if r["path"] == "/rest/posts"]
    assert len(listing) == 3  # 7 posts, 3 a page, each next page one post early
    assert [r["args"]["start"] for r in listing] == ["0", "2", "4"]
    assert {r["args"]["author"] for r in listing} == {"urn:li:organization:2414183"}
    assert {(r["args"]["q"], r["args"]["sortBy"]) for r in listing} == {("author", "LAST_MODIFIED")}
    last = max(double.value(u)["lastModifiedAt"] for u in posts_oldest_first())
    assert pages[-1].state["watermark"] == {"ms": last, "ids": [posts_oldest_first()[-1]]}
    assert pages[-1].state["walk"] is None


def test_second_poll_asks_one_page_and_gets_nothing(server, double):
    state = drain(source(server, page_size=3), None)[0][-1].state
    double.requests.clear()
    pages, failure = drain(source(server, page_size=3), state)
    assert failure is None and ids_of(pages) == []
    assert len(double.requests) == 1


def test_new_post_appears_on_the_next_poll_only(server, double):
    state = drain(source(server), None)[0][-1].state
    urn = double.add_post(commentary="Inloopavond \\(gratis\\) {hashtag|\\#|Wijk}")
    pages, failure = drain(source(server), state)
    assert failure is None and ids_of(pages) == [urn]
    message = pages[0].messages[0]
    assert (message.text, message.hashtags, message.version) == ("Inloopavond (gratis) #Wijk", ("wijk",), "")
    assert message.url == f"https://www.linkedin.com/feed/update/{urn}/"
    assert ids_of(drain(source(server), pages[-1].state)[0]) == []


def test_edited_post_is_a_new_version(server, double):
    state = drain(source(server), None)[0][-1].state
    target = "urn:li:share:7258500000000000002"
    original = double.value(target)
    modified = double.edit_post(target, "Rectificatie: het artikel is bijgewerkt.")
    pages, failure = drain(source(server), state)
    assert failure is None and ids_of(pages) == [target]
    message = pages[0].messages[0]
    assert message.version == iso(message.edited_at) and int(message.edited_at.timestamp() * 1000) == modified
    assert int(message.created_at.timestamp() * 1000) == original["publishedAt"]
    assert message.text.startswith("Rectificatie: het artikel is bijgewerkt.")
    assert ids_of(drain(source(server), pages[-1].state)[0]) == []


def test_recorded_edit_carries_its_version(server, double):
    messages = {m.id: m for p in drain(source(server), None)[0] for m in p.messages}
    edited = messages["urn:li:share:7262000000000000007"]
    assert edited.version == "2024-11-08T21:06:40Z" and iso(edited.edited_at) == edited.version
    assert all(m.version == "" for u, m in messages.items() if u != edited.id)


def test_touched_but_unedited_post_adds_no_version(server, double):
    state = drain(source(server), None)[0][-1].state
    target = "urn:li:share:7258000000000000001"
    value = double.value(target)
    value["lastModifiedAt"] = double._stamp()  # LinkedIn touched it; the author did not edit
    double.set_text(target, __import__("json").dumps(value).encode(), value["lastModifiedAt"])
    pages, _ = drain(source(server), state)
    assert [(m.id, m.version) for p in pages for m in p.messages] == [(target, "")]  # the store's duplicate


def test_poll_does_not_mutate_state(server):
    state = drain(source(server), None)[0][-1].state
    before = copy.deepcopy(state)
    drain(source(server, comments=True, recheck_days=3650), state)
    assert state == before


# -- an interrupted walk ----------------------------------------------------------------------

def _capped(server, pages_per_poll: int, **options) -> LinkedInSource:
    src = source(server, page_size=2, **options)
    src.max_pages = pages_per_poll
    return src


def test_walk_cut_short_resumes_without_skipping(server, double):
    first, failure = drain(_capped(server, 2), None)
    assert failure is None and first[-1].state["walk"] is not None
    assert first[-1].state["watermark"] is None  # older new posts are unread: the watermark cannot move
    seen, state, polls = ids_of(first), first[-1].state, 0
    while state.get("walk") and polls < 10:
        pages, failure = drain(_capped(server, 2), state)
        assert failure is None
        seen += ids_of(pages)
        state, polls = pages[-1].state, polls + 1
    assert sorted(seen) == sorted(posts_oldest_first()) and len(seen) == len(set(seen))
    assert ids_of(drain(_capped(server, 2), state)[0]) == []


def test_post_published_during_an_interrupted_walk_is_picked_up_after_it(server, double):
    first, _ = drain(_capped(server, 1), None)
    urn = double.add_post(commentary="tussendoor")
    seen, state = ids_of(first), first[-1].state
    for _ in range(10):
        pages, failure = drain(_capped(server, 1), state)
        assert failure is None
        seen += ids_of(pages)
        if pages:
            state = pages[-1].state
    assert sorted(set(seen)) == sorted(posts_oldest_first() + [urn])


def test_deletion_above_the_resume_point_steps_back_instead_of_skipping(server, double):
    first, _ = drain(_capped(server, 2), None)  # the newest 4 posts (page 2 starts one early)
    state = first[-1].state
    double.delete_post(ids_of(first)[0])  # everything below moves up one place
    rest = []
    for _ in range(10):
        pages, failure = drain(_capped(server, 2), state)
        assert failure is None
        rest += ids_of(pages)
        state = pages[-1].state if pages else state
    assert set(ids_of(first)) | set(rest) == set(posts_oldest_first())


def test_listing_shrunk_below_the_resume_point_steps_back(server, double):
    first, _ = drain(_capped(server, 2), None)  # the newest 3 posts; the walk goes on at offset 2
    state = first[-1].state
    assert state["walk"]["start"] == 2
    for urn in ids_of(first) + posts_oldest_first()[:2]:
        double.delete_post(urn)  # 2 posts left: offset 2 is past the end
    rest = []
    for _ in range(10):
        pages, failure = drain(_capped(server, 2), state)
        assert failure is None
        rest += ids_of(pages)
        state = pages[-1].state if pages else state
    assert sorted(rest) == sorted(posts_oldest_first()[2:4])


def test_crash_after_a_page_repeats_at_most_that_page(server, double):
    pages, _ = drain(source(server, page_size=2), None)
    assert len(pages) >= 3
    again, failure = drain(source(server, page_size=2), pages[1].state)  # pages 2.. never stored
    assert failure is None
    assert ids_of(pages[:2]) + ids_of(again) == posts_oldest_first()


# -- comments ---------------------------------------------------------------------------------

def test_comments_follow_their_post_with_thread_fields(server, double):
    pages, failure = drain(source(server, comments=True), None)
    assert failure is None
    ids = ids_of(pages)
    comments = [m for p in pages for m in p.messages if m.kind == "comment"]
    assert sorted(m.id for m in comments) == sorted(c["$URN"] for c in recorded_comments())
    assert min(ids.index(m.id) for m in comments) > ids.index(COMMENTED)
    for message in comments:
        assert (message.in_reply_to, message.thread_id) == (COMMENTED, COMMENTED)
        assert message.url.startswith(f"https://www.linkedin.com/feed/update/{COMMENTED}?commentUrn=urn%3Ali%3Acomment")
    assert [m.text for m in comments] == ["cats", "rabbit"]  # oldest first
    assert comments[1].attachments[0].url == recorded_comments()[0]["content"][0]["url"]


def test_new_comment_and_reply_within_the_window_arrive_on_the_next_poll(server, double):
    options = {"comments": True, "recheck_days": 3650}
    state = drain(source(server, **options), None)[0][-1].state
    parent = double.add_comment(COMMENTED, "Wanneer precies?")
    reply = double.add_comment(COMMENTED, "Donderdag om 19.30 uur.", parent=parent)
    pages, failure = drain(source(server, **options), state)
    assert failure is None
    assert ids_of(pages) == [parent, reply]
    first, second = pages[0].messages
    assert (first.in_reply_to, first.thread_id) == (COMMENTED, COMMENTED)
    assert (second.in_reply_to, second.thread_id) == (parent, COMMENTED)
    asked = [r["path"] for r in double.requests if r["path"].startswith("/rest/socialActions/")]
    assert f"/rest/socialActions/{parent}/comments" in asked  # LinkedIn lists a reply under its parent only
    assert ids_of(drain(source(server, **options), pages[-1].state)[0]) == []


def test_edited_comment_is_a_version(server, double):
    state = drain(source(server, comments=True), None)[0][-1].state
    urn = double.add_post(commentary="met reactie")
    comment = double.add_comment(urn, "aangepast", edited=True)
    pages, _ = drain(source(server, comments=True), state)
    message = next(m for p in pages for m in p.messages if m.id == comment)
    assert message.edited_at and message.version == iso(message.edited_at) and message.edited_at > message.created_at


# -- media ------------------------------------------------------------------------------------

def test_media_resolve_to_their_download_urls(server, double):
    messages = {m.id: m for p in drain(source(server), None)[0] for m in p.messages}
    video = messages[COMMENTED].attachments
    assert [(a.url, a.media_type, a.description) for a in video] == [
        (f"{server.url}/media/C5F10AQGKQg_6y2a4sQ.mp4", "video/*", "Raadsvergadering 6 november")]
    gallery = messages["urn:li:share:7260000000000000005"].attachments
    assert [a.url for a in gallery] == [f"{server.url}/media/C4D22AQFoyyAjHPMQuQ.jpg",
                                        f"{server.url}/media/C4D22AQHgNUX3xq0CvA.jpg"]
    assert [a.description for a in gallery] == ["De nieuwe fietsbrug bij daglicht", "De fietsbrug 's avonds verlicht"]
    asked = [r["path"] for r in double.requests if r["path"].startswith(("/rest/images", "/rest/videos"))]
    assert len(asked) == 4  # video, two images, one image


def test_unresolvable_media_keep_their_urn(server, double):
    state = drain(source(server), None)[0][-1].state
    value = double.value("urn:li:share:7258000000000000001")
    double.fail_next(404, after=1, body={"status": 404, "message": "Not Found"})
    double.edit_post("urn:li:share:7258000000000000001", value["commentary"])
    pages, failure = drain(source(server), state)
    assert failure is None
    assert pages[0].messages[0].attachments[0].url == value["content"]["media"]["id"]


def test_media_policy_allows_linkedin_media_hosts(server):
    policy = source(server).media_policy()
    assert policy.host_allowed("media.licdn.com") and policy.host_allowed("127.0.0.1")
    assert not policy.host_allowed("evil.example")


# -- deletions --------------------------------------------------------------------------------

def test_post_gone_within_the_window_is_a_deletion(server, double):
    options = {"recheck_days": 3650}
    state = drain(source(server, **options), None)[0][-1].state
    gone = "urn:li:share:7259000000000000003"
    double.delete_post(gone)
    pages, failure = drain(source(server, **options), state)
    assert failure is None
    deletions = [d for p in pages for d in p.deletions]
    assert [d.id for d in deletions] == [gone] and "404" in deletions[0].reason
    assert f"/rest/posts/{gone}" in [r["path"] for r in double.requests if r["status"] == 404]
    assert gone not in pages[-1].state["recent"]
    again, _ = drain(source(server, **options), pages[-1].state)
    assert [d for p in again for d in p.deletions] == []


def test_deleted_post_with_comments_is_a_deletion_not_a_failure(server, double):
    options = {"recheck_days": 3650, "comments": True}
    state = drain(source(server, **options), None)[0][-1].state
    double.delete_post(COMMENTED)
    pages, failure = drain(source(server, **options), state)
    assert failure is None
    assert [d.id for p in pages for d in p.deletions] == [COMMENTED]
    assert COMMENTED not in pages[-1].state["comments"]


def test_post_outside_the_window_is_not_rechecked(server, double):
    state = drain(source(server, recheck_days=1), None)[0][-1].state  # the fixture's posts are from 2024
    assert state["recent"] == {}
    double.delete_post("urn:li:share:7259000000000000003")
    double.requests.clear()
    pages, failure = drain(source(server, recheck_days=1), state)
    assert failure is None and [d for p in pages for d in p.deletions] == []
    assert len(double.requests) == 1


def test_post_missing_from_the_listing_but_still_there_is_no_deletion(server, double, monkeypatch):
    options = {"recheck_days": 3650}
    state = drain(source(server, **options), None)[0][-1].state
    hidden = "urn:li:share:7259000000000000003"
    listed = double.listing
    monkeypatch.setattr(double, "listing", lambda: [i for i in listed() if i.urn != hidden])  # GET still answers
    pages, failure = drain(source(server, **options), state)
    assert failure is None and [d for p in pages for d in p.deletions] == []
    assert f"/rest/posts/{hidden}" in [r["path"] for r in double.requests if r["status"] == 200]


# -- the organization's name ------------------------------------------------------------------

def test_posts_carry_the_organizations_name_looked_up_once(server, double):
    pages, _ = drain(source(server), None)
    assert {(m.author.id, m.author.name) for p in pages for m in p.messages} == {
        ("urn:li:organization:2414183", "Devtestco")}
    assert [r["path"] for r in double.requests].count("/rest/organizations/2414183") == 1
    double.requests.clear()
    drain(source(server), pages[-1].state)
    assert "/rest/organizations/2414183" not in [r["path"] for r in double.requests]


def test_organization_not_readable_leaves_the_name_empty(server, double):
    double.fail_next(403, body={"status": 403, "code": "ACCESS_DENIED", "message": "Not enough permissions"})
    pages, failure = drain(source(server), None)
    assert failure is None and pages[-1].state["name"] is None
    assert {m.author.name for p in pages for m in p.messages} == {""}
