"""``connector demo``: the whole thing on 127.0.0.1, with no account anywhere.

Starts a Mastodon-compatible server replaying recorded real statuses, a feed server replaying a
recorded RSS feed, the ZGW test double as the case system, the worker and the web app; writes
its configuration to ``<workdir>/connector.yaml`` (the secret comes from the environment, as in
production) and prints what arrives. Every ~20 seconds a new status is "posted" on the local
Mastodon, so incremental polling can be watched too.

The case system answers 403 without a JWT, as Open Zaak does. So that a newcomer can see what
arrived, the demo's web app also serves ``/demo/zaken`` (the zaken with their documents, no login)
and the demo prints a ready-to-run ``curl`` line with a token for the ZGW API itself.
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import jwt
import yaml
from flask import Response, jsonify, url_for

from connector.config import load_config
from connector.engine import Connector
from .paths import repo_root
from connector.web import create_app
from connector.web.auth import ensure_demo_admin
from connector.worker import build_scheduler

SECRET_ENV = "CONNECTOR_DEMO_ZGW_SECRET"
STATUS_TOKEN_ENV = "CONNECTOR_DEMO_STATUS_TOKEN"
WEB_KEY_ENV = "CONNECTOR_DEMO_WEB_KEY"
DEMO_ACCOUNT = "schochastics"
DEMO_FEED = "RSSWithComments.xml"
TOKEN_HOURS = 24  # the demo case system accepts its tokens this long (Open Zaak: one hour)
ARCHIVE = "archief"  # the archive sink's folder in the work folder: an MDTO SIP copy of everything


def write_demo_config(workdir: Path, mastodon_url: str, feed_url: str, zgw, web_port: int) -> Path:
    config = {
        "store": "connector.db",
        "mappings": str(repo_root() / "mappings"),
        # plain http on 127.0.0.1: the session cookie cannot be Secure here
        # the status API without a token: only on 127.0.0.1, and the demo says so when it starts
        "web": {"host": "127.0.0.1", "port": web_port, "public_status": True,
                "secret_key": "${%s}" % WEB_KEY_ENV, "secure_cookies": False},
        "delivery": {"interval": 2, "batch_size": 50, "max_attempts": 5, "backoff_base": 5,
                     # replies to posts of accounts the demo does not follow: a short wait, then the rule's otherwise
                     "parent_grace": 20},
        "channels": [
            {"name": "demo-mastodon", "kind": "mastodon", "poll_interval": 5,
             "options": {"base_url": mastodon_url, "account": DEMO_ACCOUNT, "page_size": 10}},
            {"name": "demo-feed", "kind": "rss", "poll_interval": 10, "options": {"url": feed_url}},
        ],
        "sinks": [{"name": "zaaksysteem", "kind": "zgw", "options": {
            "zaken_url": zgw.zaken_url, "documenten_url": zgw.documenten_url, "catalogi_url": zgw.catalogi_url,
            "client_id": "connector", "secret": "${%s}" % SECRET_ENV, "bronorganisatie": "002220647",
        }}, {"name": "archief", "kind": "archive", "receives": "all", "options": {
            "folder": str(workdir / ARCHIVE), "archiefvormer": {"naam": "Demogemeente"},
        }}],
    }
    path = workdir / "connector.yaml"
    path.write_text("# written by 'connector demo'; the secrets are in $%s and $%s; the status API is open\n"
                    % (SECRET_ENV, WEB_KEY_ENV)
                    + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class LivePoster:
    """Posts a new status on the local Mastodon now and then, cloned from a recorded one."""

    def __init__(self, double, interval: float = 20.0):
        self.double = double
        self.interval = interval
        self.stop = threading.Event()
        self.counter = itertools.count(1)
        templates = [s for s in double.statuses(DEMO_ACCOUNT) if not s.get("reblog")]
        self.template = templates[0] if templates else None

    def run(self):
        while not self.stop.wait(self.interval):
            if self.template is None:
                return
            n = next(self.counter)
            status = copy.deepcopy(self.template)
            status["content"] = (f"<p>Demo post {n}: question about our service, see ZAAK-2026-0000000042 "
                                 f"#demo</p>")
            status["in_reply_to_id"] = None
            status["in_reply_to_account_id"] = None
            status["tags"] = [{"name": "demo", "url": "https://example.invalid/tags/demo"}]
            self.double.add_status(status)


def add_case_system_view(app, zgw_double) -> None:
    """``GET /demo/zaken`` and ``GET /demo/documenten/<uuid>`` on the demo's web app: what the
    local case system holds, read straight from the double, without credentials."""

    def zaken():
        documents = {d["url"]: d for d in zgw_double.documents}
        links = zgw_double.zaakinformatieobjecten
        out = []
        for zaak in zgw_double.zaken:
            linked = [documents[link["informatieobject"]] for link in links
                      if link["zaak"] == zaak["url"] and link["informatieobject"] in documents]
            out.append({
                "identificatie": zaak.get("identificatie"), "omschrijving": zaak.get("omschrijving"),
                "startdatum": zaak.get("startdatum"), "url": zaak["url"],
                "documenten": [{"identificatie": d.get("identificatie"), "titel": d.get("titel"),
                                "formaat": d.get("formaat"), "bestandsomvang": d.get("bestandsomvang"),
                                "inhoud": url_for("demo_document", uuid=d["url"].rstrip("/").rsplit("/", 1)[-1],
                                                  _external=True)}
                               for d in linked],
            })
        out.sort(key=lambda z: len(z["documenten"]) == 0)  # what arrived first, the seeded empty zaken last
        return jsonify({"zaken": len(out), "documenten": len(documents), "results": out})

    def document(uuid: str):
        found = [d for d in zgw_double.documents if d["url"].rstrip("/").endswith("/" + uuid)]
        if not found:
            return jsonify({"error": f"no document {uuid}"}), 404
        response = Response(zgw_double.document_content(uuid), mimetype=found[0].get("formaat") or "text/plain")
        response.headers["Content-Security-Policy"] = "sandbox"  # a rendition is message content: no scripts
        return response

    app.add_url_rule("/demo/zaken", "demo_zaken", zaken)
    app.add_url_rule("/demo/documenten/<uuid>", "demo_document", document)


def api_command(zaken_url: str, secret: str, client_id: str = "connector") -> str:
    """A ready-to-run ``curl`` listing the zaken through the ZGW API, with a fresh JWT."""
    token = jwt.encode({"iss": client_id, "iat": int(time.time()), "client_id": client_id,
                        "user_id": "demo", "user_representation": "demo"}, secret, algorithm="HS256")
    return (f"curl -H 'Authorization: Bearer {token}' -H 'Accept-Crs: EPSG:4326' -H 'Content-Crs: EPSG:4326' "
            f"'{zaken_url}/zaken'")


def _arrivals(connector: Connector, after: int) -> tuple[int, list[str]]:
    """Lines for deliveries that reached a final state since event ``after``."""
    rows = connector.store.query(
        "select e.id, e.kind, m.channel, m.platform_id, d.sink, d.rule, d.zaak_identificatie, d.zaak_url,"
        " d.last_error,"
        " d.documents_json from events e join deliveries d on d.id = e.delivery_id"
        " join messages m on m.id = d.message_id"
        " where e.id > ? and e.kind in ('delivery.delivered', 'delivery.held', 'delivery.ignored', 'delivery.dead')"
        " order by e.id", [after])
    lines = []
    for row in rows:
        what = f"{row['channel']}/{row['platform_id']}"
        if row["kind"] == "delivery.delivered":
            documents = len(json.loads(row["documents_json"] or "[]"))
            where = row["zaak_identificatie"] or Path(row["zaak_url"].removeprefix("file://")).name
            lines.append(f"  {what} -> {row['sink']}: {where} ({documents} documents, rule {row['rule']})")
        else:
            lines.append(f"  {what} {row['kind'].split('.')[1]} in {row['sink']} (rule {row['rule']})"
                         f" {row['last_error'] or ''}")
    return (rows[-1]["id"] if rows else after), lines


def _summary(connector: Connector, zgw_double) -> str:
    counts = connector.store.delivery_counts()
    busy = {k: v for k, v in counts.items() if v}
    messages = connector.store.query("select count(*) as n from messages")[0]["n"]
    packages = connector.store.query("select count(*) as n from deliveries where sink = 'archief'"
                                     " and state = 'delivered'")[0]["n"]
    return (f"{messages} messages stored; deliveries {json.dumps(busy)}; case system holds "
            f"{len(zgw_double.zaken)} zaken, {len(zgw_double.documents)} documents, "
            f"{len(zgw_double.zaakinformatieobjecten)} links; archive holds {packages} MDTO packages")


def run_demo(port: int = 8080, workdir: str = "var/demo", seconds: float = 0) -> int:
    from . import feeds, mastodon, zgw
    from .serving import Running

    fixtures = repo_root() / "fixtures"
    workdir_path = Path(workdir).resolve()
    workdir_path.mkdir(parents=True, exist_ok=True)
    for stale in workdir_path.glob("connector.db*"):  # the case system starts empty, so must the outbox
        stale.unlink()
    shutil.rmtree(workdir_path / ARCHIVE, ignore_errors=True)  # and the archive: this run fetches anew
    os.environ.setdefault(SECRET_ENV, secrets.token_urlsafe(32))
    os.environ.setdefault(STATUS_TOKEN_ENV, secrets.token_urlsafe(24))
    os.environ.setdefault(WEB_KEY_ENV, secrets.token_urlsafe(48))

    zgw_double = zgw.ZgwDouble(secret=os.environ[SECRET_ENV], client_ids=("connector",),
                               seed=str(fixtures / "zgw" / "catalogus.yaml"), jwt_expiry=TOKEN_HOURS * 3600)
    zgw_server = zgw.serve(zgw_double, host="127.0.0.1", port=0)
    masto_double = mastodon.MastodonDouble(data_dir=str(fixtures / "mastodon" / "replay"))
    masto_server = mastodon.serve(masto_double, host="127.0.0.1", port=0)
    feed_double = feeds.FeedDouble({"/feed.xml": str(fixtures / "rss" / DEMO_FEED)})
    feed_server = feeds.serve(feed_double, host="127.0.0.1", port=0)

    config_path = write_demo_config(workdir_path, masto_server.url, feed_server.url + "/feed.xml",
                                    zgw_server, port)
    config = load_config(config_path)
    connector = Connector(config)
    app = create_app(config, rules=connector.rules)
    admin, password = ensure_demo_admin(connector.store)
    add_case_system_view(app, zgw_double)
    try:
        web = Running(app, "127.0.0.1", port, name="web")
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; try 'connector demo --port 8081'", file=sys.stderr)
        for server in (zgw_server, masto_server, feed_server):
            server.shutdown()
        return 2
    scheduler = build_scheduler(connector)
    scheduler.start()
    poster = LivePoster(masto_double)
    threading.Thread(target=poster.run, daemon=True).start()

    print(f"""
midoffice connector demo
  web UI:              {web.url}/login  (user {admin}, password {password}; this run only)
  status (helpdesk):   token off in this demo (web.public_status: true): {web.url}/status
  what arrived:        {web.url}/demo/zaken (the case system's zaken and documents, no login)
  local Mastodon:      {masto_server.url}/api/v1/accounts/lookup?acct={DEMO_ACCOUNT}
  local feed:          {feed_server.url}/feed.xml
  local case system:   {zgw_server.zaken_url} (ZGW APIs; a JWT is required, this token works for {TOKEN_HOURS} hours:)
    {api_command(zgw_server.zaken_url, os.environ[SECRET_ENV])}
  configuration:       {config_path}
  mapping rules:       {config.mappings}
  archive (MDTO SIP):  {workdir_path / ARCHIVE}
Messages are polled every few seconds and delivered as documents into zaken, and as MDTO packages into the
archive folder. Ctrl-C stops.
""", flush=True)
    started = time.monotonic()
    last_event, last_summary = 0, ""
    # Ctrl-C (SIGINT) and SIGTERM only set an event: a KeyboardInterrupt raised at an arbitrary bytecode of the main
    # thread could land between a store lock's acquire and its `with` block, leaving the lock held, and the
    # scheduler's shutdown below would then wait forever for a job blocked on it
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(1):
            last_event, lines = _arrivals(connector, last_event)
            for line in lines:
                print(line, flush=True)
            summary = _summary(connector, zgw_double)
            if summary != last_summary:
                print(summary, flush=True)
                last_summary = summary
            if seconds and time.monotonic() - started >= seconds:
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        poster.stop.set()
        connector.stopping.set()
        scheduler.shutdown(wait=True)
        web.shutdown()
        for server in (zgw_server, masto_server, feed_server):
            server.shutdown()
        print("final: " + _summary(connector, zgw_double), flush=True)
        violations = list(zgw_double.violations)
        connector.close()
    if violations:
        print(f"{len(violations)} ZGW spec violations:", *violations[:10], sep="\n  ", file=sys.stderr)
        return 1
    return 0
