"""A local YouTube Data API v3 (and channel feed) replaying recorded resources, for tests.

Endpoints, with YouTube's own semantics (the data and changes are :mod:`.youtube_replay`'s):

* ``GET /youtube/v3/channels?part=...&id=UC...``: the channel with
  ``contentDetails.relatedPlaylists.uploads`` (``UU`` + the id without ``UC``);
* ``GET /youtube/v3/playlistItems?playlistId=UU...&maxResults=&pageToken=``: the uploads,
  newest first, ``nextPageToken`` encoded as YouTube's offset tokens (``CAoQAA`` = offset 10);
* ``GET /youtube/v3/videos?id=a,b,c``: those that exist, in the order asked;
* ``GET /youtube/v3/commentThreads?videoId=&maxResults=&pageToken=``: newest first, up to
  ``embed_replies`` replies embedded when ``part`` has ``replies``; 403 ``commentsDisabled``;
* ``GET /youtube/v3/comments?parentId=``: a thread's replies, oldest first;
* ``GET /youtube/v3/commentThreads?id=`` and ``comments?id=``: threads and replies by id (those that
  exist; none: an empty ``items``), for fetching one comment;
* ``GET /feeds/videos.xml?channel_id=``: the Atom feed of the 15 newest videos, with ``ETag``.

Credentials: with ``api_key`` set, API calls need ``X-Goog-Api-Key`` (or ``key=``) equal to it
(else 400 ``keyInvalid``, or 403 ``forbidden`` without any key); with ``token`` set, a bearer
token instead (else 401 ``authError``). Quota: every API call costs 1 unit of ``daily_quota``;
when spent, 403 ``quotaExceeded`` (the recorded error body's form). ``fail_next()`` injects a
status (with a body and headers), ``truncate_next()`` cuts a body; ``requests`` logs each call.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import threading
from xml.sax.saxutils import escape, quoteattr

from flask import Flask, Response, g, request

from .faults import NumberedFaults
from .serving import Running, wait_forever
from .youtube_replay import DEFAULT_DATA_DIR, Replay

__all__ = ["DEFAULT_DATA_DIR", "YouTubeDouble", "main", "page_token", "serve"]

API = "/youtube/v3"
FEED_SIZE = 15


def page_token(offset: int) -> str:
    """YouTube's page token for an offset: protobuf field 1 = offset, field 2 = 0, base64url."""
    value, varint = offset, bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        varint.append(byte | (0x80 if value else 0))
        if not value:
            break
    return base64.urlsafe_b64encode(b"\x08" + bytes(varint) + b"\x10\x00").decode().rstrip("=")


def _offset(token: str) -> int | None:
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(data) < 4 or data[0] != 0x08 or data[-2:] != b"\x10\x00":
        return None
    value = 0
    for shift, byte in enumerate(data[1:-2]):
        value |= (byte & 0x7F) << (7 * shift)
    return value


def google_error(code: int, reason: str, message: str, domain: str = "youtube.api") -> dict:
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": domain, "reason": reason}]}}


class YouTubeDouble(NumberedFaults, Replay):
    """State of the replay server; ``create_app()`` exposes it over HTTP (see the module docstring)."""

    _faults_lock = "_gate"  # NumberedFaults' lock

    def __init__(self, data_dir=None, api_key: str | None = "test-api-key", token: str | None = None,
                 daily_quota: int = 10_000, embed_replies: int = 5):
        super().__init__(data_dir)
        self.api_key, self.token, self.daily_quota, self.embed_replies = api_key, token, daily_quota, embed_replies
        self.quota_used = 0
        self.faults: dict[int, tuple] = {}
        self.truncations: dict[int, float] = {}
        self.requests: list[dict] = []
        self._received = 0
        self._gate = threading.Lock()

    def calls(self, path: str) -> list[dict]:
        """The logged requests to one endpoint (``"playlistItems"``, ``"videos"``, ...)."""
        return [r for r in self.requests if r["path"].rsplit("/", 1)[-1] == path]

    # -- HTTP -------------------------------------------------------------------------------------

    def create_app(self) -> Flask:
        app = Flask(__name__)
        double = self

        def answer(body=None, status=200, raw: str | None = None, headers=None, content_type="application/json"):
            text = raw if raw is not None else json.dumps(body, ensure_ascii=False, indent=2)
            response = Response(text.encode("utf-8", "surrogateescape"), status=status,
                                content_type=f"{content_type}; charset=UTF-8")
            response.headers.update(headers or {})
            return response

        def listing(kind: str, items: list[str], total: int, per_page: int, next_offset: int | None):
            head = {"kind": kind, "etag": hashlib.sha1("".join(items).encode("utf-8", "surrogateescape")).hexdigest()}
            if next_offset is not None:
                head["nextPageToken"] = page_token(next_offset)
            head["pageInfo"] = {"totalResults": total, "resultsPerPage": per_page}
            text = json.dumps(head)[:-1] + ',"items":[' + ",".join(items) + "]}"
            return answer(raw=text)

        def window(items: list, default: int, maximum: int):
            size = min(max(int(request.args.get("maxResults") or default), 0), maximum)
            token = request.args.get("pageToken")
            start = _offset(token) if token else 0
            if start is None:
                return None, answer(google_error(400, "invalidPageToken", "The request specifies an invalid page"
                                                 " token."), 400)
            more = start + size < len(items)
            return (items[start:start + size], start + size if more else None, size), None

        @app.before_request
        def gate():
            with double._gate:
                double._received += 1
                g.truncate_keep = double.truncations.pop(double._received, None)
                fault = double.faults.pop(double._received, None)
            if fault is not None:
                status, body, headers = fault
                return answer(body or google_error(status, "backendError", f"Injected fault {status}"), status,
                              headers=headers)
            if not request.path.startswith(API):
                return None  # the feed: public, no quota
            if double.token:
                if request.headers.get("Authorization") != f"Bearer {double.token}":
                    return answer({"error": {"code": 401, "message": "Request had invalid authentication credentials."
                                   " Expected OAuth 2 access token, login cookie or other valid authentication"
                                   " credential.", "errors": [{"message": "Invalid Credentials", "domain": "global",
                                   "reason": "authError", "location": "Authorization", "locationType": "header"}],
                                   "status": "UNAUTHENTICATED"}}, 401)
            elif double.api_key:
                given = request.headers.get("X-Goog-Api-Key") or request.args.get("key")
                if not given:
                    return answer(google_error(403, "forbidden", "The request is missing a valid API key.",
                                               "global"), 403)
                if given != double.api_key:
                    return answer(google_error(400, "keyInvalid", "API key not valid. Please pass a valid API key.",
                                               "usageLimits"), 400)
            with double._gate:
                if double.quota_used >= double.daily_quota:
                    return answer(google_error(403, "quotaExceeded", "The request cannot be completed because you"
                                               " have exceeded your <a href=\"/youtube/v3/getting-started#quota\">"
                                               "quota</a>.", "youtube.quota"), 403)
                double.quota_used += 1
            return None

        @app.after_request
        def log(response):
            with double._gate:
                entry = {"method": request.method, "path": request.path, "args": request.args.to_dict(),
                         "status": response.status_code}
                keep = g.get("truncate_keep")
                if keep is not None:
                    data = response.get_data()
                    response.set_data(data[:int(len(data) * keep)])
                    entry["truncated"] = True
                double.requests.append(entry)
            return response

        @app.get(f"{API}/channels")
        def channels():
            ids = [i for i in (request.args.get("id") or "").split(",") if i]
            items = []
            for channel_id in ids:
                if channel_id in double.channel_titles and channel_id.startswith("UC"):
                    uploads = {"likes": "", "uploads": "UU" + channel_id[2:]}
                    items.append(json.dumps({"kind": "youtube#channel", "etag": f"etag-{channel_id}", "id": channel_id,
                                             "snippet": {"title": double.channel_titles[channel_id]},
                                             "contentDetails": {"relatedPlaylists": uploads}}))
            return listing("youtube#channelListResponse", items, len(items), 5, None)

        @app.get(f"{API}/playlistItems")
        def playlist_items():
            playlist = request.args.get("playlistId") or ""
            channel_id = "UC" + playlist[2:]
            if not playlist.startswith("UU") or channel_id not in double.channel_titles:
                return answer(google_error(404, "playlistNotFound", "The playlist identified with the request's"
                                           " <code>playlistId</code> parameter cannot be found."), 404)
            videos = double.uploads(channel_id)
            found, error = window(videos, 5, 50)
            if error:
                return error
            page, next_offset, size = found
            items = []
            for position, video in enumerate(page):
                snippet = video.obj.get("snippet") or {}
                items.append(json.dumps({
                    "kind": "youtube#playlistItem", "etag": f"etag-pi-{video.id}",
                    "id": base64.b64encode(f"{playlist}.{video.id}".encode()).decode(),
                    "snippet": {"publishedAt": video.published, "channelId": channel_id,
                                "title": snippet.get("title", ""), "description": snippet.get("description", ""),
                                "thumbnails": snippet.get("thumbnails", {}),
                                "channelTitle": snippet.get("channelTitle", ""),
                                "playlistId": playlist, "position": position,
                                "resourceId": {"kind": "youtube#video", "videoId": video.id}},
                    "contentDetails": {"videoId": video.id, "videoPublishedAt": video.published}}, ensure_ascii=False))
            return listing("youtube#playlistItemListResponse", items, len(videos), size, next_offset)

        @app.get(f"{API}/videos")
        def videos():
            ids = [i for i in (request.args.get("id") or "").split(",") if i]
            if len(ids) > 50:
                return answer(google_error(400, "badRequest", "too many ids"), 400)
            with double._lock:
                found = [double.videos[i].text for i in ids if i in double.videos]
            return listing("youtube#videoListResponse", found, len(found), len(found), None)

        @app.get(f"{API}/commentThreads")
        def comment_threads():
            if request.args.get("id"):  # threads by id: those that exist, in the order asked
                embed = double.embed_replies if "replies" in (request.args.get("part") or "") else 0
                found = [(double.find_comment(i)) for i in request.args["id"].split(",") if i]
                items = [double.thread_text(c, embed) for c, _, thread in found if c is not None and thread is None]
                return listing("youtube#commentThreadListResponse", items, len(items), len(items), None)
            video = double.videos.get(request.args.get("videoId") or "")
            if video is None:
                return answer(google_error(404, "videoNotFound", "The video identified by the <code><a href=\"/youtube"
                                           "/v3/docs/commentThreads/list#videoId\">videoId</a></code> parameter could"
                                           " not be found."), 404)
            if video.comments_disabled:
                return answer(google_error(403, "commentsDisabled", "The video identified by the <code><a href=\"/you"
                                           "tube/v3/docs/commentThreads/list#videoId\">videoId</a></code> parameter"
                                           " has disabled comments."), 403)
            with double._lock:
                threads = list(video.threads)
            found, error = window(threads, 20, 100)
            if error:
                return error
            page, next_offset, size = found
            embed = double.embed_replies if "replies" in (request.args.get("part") or "") else 0
            items = [double.thread_text(t, embed) for t in page]
            return listing("youtube#commentThreadListResponse", items, len(page), size, next_offset)

        @app.get(f"{API}/comments")
        def comments():
            if request.args.get("id"):  # comments by id (a reply's own resource): those that exist
                found = [double.find_comment(i) for i in request.args["id"].split(",") if i]
                items = [c.text for c, _, thread in found if c is not None and thread is not None]
                return listing("youtube#commentListResponse", items, len(items), len(items), None)
            with double._lock:
                replies = list(double.replies.get(request.args.get("parentId") or "") or [])
            found, error = window(replies, 20, 100)
            if error:
                return error
            page, next_offset, size = found
            return listing("youtube#commentListResponse", [r.text for r in page], len(page), size, next_offset)

        @app.get("/feeds/videos.xml")
        def feed():
            channel_id = request.args.get("channel_id") or ""
            if channel_id not in double.channel_titles:
                return answer(raw="<!DOCTYPE html><html><body>404 Not Found</body></html>", status=404,
                              content_type="text/html")
            body = double.feed_text(channel_id)
            etag = '"' + hashlib.sha1(body.encode("utf-8", "surrogateescape")).hexdigest() + '"'
            if request.headers.get("If-None-Match") == etag:
                return Response(status=304, headers={"ETag": etag})
            return answer(raw=body, headers={"ETag": etag}, content_type="application/atom+xml")

        return app

    def feed_text(self, channel_id: str) -> str:
        """The channel's Atom feed as YouTube writes it: the 15 newest videos, ``media:group`` each."""
        title = escape(self.channel_titles.get(channel_id, ""))
        home = f"https://www.youtube.com/channel/{channel_id}"
        entries = []
        for video in self.uploads(channel_id)[:FEED_SIZE]:
            snippet = video.obj.get("snippet") or {}
            published = video.published.replace("Z", "+00:00").replace(".000+", "+")
            entries.append(
                f" <entry>\n  <id>yt:video:{video.id}</id>\n  <yt:videoId>{video.id}</yt:videoId>\n"
                f"  <yt:channelId>{channel_id}</yt:channelId>\n  <title>{escape(snippet.get('title', ''))}</title>\n"
                f"  <link rel=\"alternate\" href=\"https://www.youtube.com/watch?v={video.id}\"/>\n"
                f"  <author>\n   <name>{title}</name>\n   <uri>{home}</uri>\n  </author>\n"
                f"  <published>{published}</published>\n  <updated>{published}</updated>\n"
                f"  <media:group>\n   <media:title>{escape(snippet.get('title', ''))}</media:title>\n"
                f"   <media:thumbnail url={quoteattr(f'https://i1.ytimg.com/vi/{video.id}/hqdefault.jpg')}"
                f" width=\"480\" height=\"360\"/>\n"
                f"   <media:description>{escape(snippet.get('description', ''))}</media:description>\n"
                f"  </media:group>\n </entry>")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"'
                ' xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">\n'
                f' <link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id={channel_id}"/>\n'
                f' <id>yt:channel:{channel_id}</id>\n <title>{title}</title>\n'
                f' <author>\n  <name>{title}</name>\n  <uri>{home}</uri>\n </author>\n'
                + "\n".join(entries) + "\n</feed>\n")


def serve(double: YouTubeDouble, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``double`` in a daemon thread; port 0 picks a free one."""
    return Running(double.create_app(), host, port, name="youtube-double")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Replay recorded YouTube Data API v3 resources over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--api-key", default="test-api-key")
    args = parser.parse_args(argv)
    double = YouTubeDouble(args.data_dir, api_key=args.api_key)
    with Running(double.create_app(), args.host, args.port, name="youtube-double", quiet=False) as server:
        print(f"YouTube replay double on {server.url}{API} (channels: {', '.join(double.channel_titles)})", flush=True)
        wait_forever()


if __name__ == "__main__":
    main()
