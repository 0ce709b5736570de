"""``connector.yaml``: channels, sinks, mappings folder, store, web, delivery and logging settings.

Example::

    store: var/connector.db          # relative paths are relative to this file's folder; or sqlite:///path,
                                     # or postgresql://connector:${PGPASSWORD}@db:5432/connector (issue 13)
    mappings: mappings/
    channels:
      - name: gemeente-mastodon
        kind: mastodon
        poll_interval: 5m            # seconds, or 30s / 5m / 1h
        options:
          base_url: https://social.overheid.nl
          account: gemeente
          token: ${MASTODON_TOKEN}   # secrets only as environment references
    sinks:
      - name: openzaak
        kind: zgw
        options: {...}

Validation happens at start with marshmallow, the top level and each channel's and sink's own
``options_schema``. Every problem is reported at once, as ``file:line: key: message``; an unknown
key is an error. ``${VAR}`` (or ``${VAR:-default}``) is replaced from the environment; a missing
variable is an error naming the variable (never its value). Plain-text values of keys that look
like secrets (``secret``, ``token``, ``password``, ...) are refused: they must come from the
environment, as a bare ``${VAR}`` without a default value. The same holds for credentials inside a
URL: the password in ``user:password@`` and secret-looking query parameters (``api_key``, ``token``,
see :mod:`connector.redact`). Every value that arrives this way is registered with
:mod:`connector.redact`, so it is masked wherever the connector logs or shows text.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from . import redact, yamlconf
from .registry import SINKS, SOURCES
from .settings import (CaptureSchema, DeliverySchema, Duration, LimitsSchema, LoggingSchema,  # noqa: F401
                       MediaSettingsSchema, OrganisationSchema, WebSchema)
from .yamlconf import LineDict, LineList, Problem

DEFAULT_ARCHIVE = "archief"  # the default sink's name, and its folder beside the store

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_KEYS = re.compile(r"(secret|secret_key|token|password|passwd|api_key|apikey|client_secret)$", re.I)
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


class ConfigError(Exception):
    """Invalid configuration; ``problems`` lists every one of them as file:line: message."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class _Named(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Regexp(
        NAME, error="Use 1-63 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit."))
    kind = fields.String(required=True)
    options = fields.Dict(load_default=dict)


class ChannelSchema(_Named):
    poll_interval = Duration(load_default=300.0)
    enabled = fields.Boolean(load_default=True)


class SinkSchema(_Named):
    parallel = fields.Integer(load_default=1, validate=validate.Range(min=1, max=32))
    # which messages this sink gets (connector.fanout): "routed" (the rule names it, or names no
    # sink and this is the first one) or "all" (every message, whatever sink the rule names)
    receives = fields.String(load_default="routed", validate=validate.OneOf(
        ("routed", "all"), error="Use 'routed' (what the rules send here) or 'all' (every message)."))


class ConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    store = fields.String(load_default="var/connector.db")
    mappings = fields.String(load_default="mappings")
    web = fields.Nested(WebSchema, load_default=lambda: WebSchema().load({}))
    delivery = fields.Nested(DeliverySchema, load_default=lambda: DeliverySchema().load({}))
    limits = fields.Nested(LimitsSchema, load_default=lambda: LimitsSchema().load({}))
    media = fields.Nested(MediaSettingsSchema, load_default=lambda: MediaSettingsSchema().load({}))
    capture = fields.Nested(CaptureSchema, load_default=lambda: CaptureSchema().load({}))
    logging = fields.Nested(LoggingSchema, load_default=lambda: LoggingSchema().load({}))
    channels = fields.List(fields.Nested(ChannelSchema), load_default=list)
    # no sinks: the embedded default, an archive sink (MDTO packages beside the store) for the organisation
    sinks = fields.List(fields.Nested(SinkSchema), load_default=list)
    organisation = fields.Nested(OrganisationSchema, load_default=None, allow_none=True)

    @validates_schema
    def unique_names(self, data, **kwargs):
        errors = {}
        for section in ("channels", "sinks"):
            seen = set()
            for index, item in enumerate(data.get(section) or []):
                if item["name"] in seen:
                    errors.setdefault(section, {})[index] = {"name": [f"Duplicate name {item['name']!r}."]}
                seen.add(item["name"])
        if not data.get("sinks") and not data.get("organisation"):
            errors["sinks"] = [f"no sinks: name one (a case system: kind zgw), or set 'organisation: {{naam: ...}}'"
                               f" to archive every message as an MDTO package in {DEFAULT_ARCHIVE}/ beside the store"]
        if errors:
            raise ValidationError(errors)


@dataclass
class ChannelConfig:
    name: str
    kind: str
    options: dict
    poll_interval: float
    enabled: bool = True


@dataclass
class SinkConfig:
    name: str
    kind: str
    options: dict
    parallel: int = 1
    receives: str = "routed"


@dataclass
class Config:
    path: Path
    store: Path | str  # a SQLite file's path, or a postgresql:// URL (connector.store.backend.parse_url)
    mappings: Path
    web: dict
    delivery: dict
    limits: dict = field(default_factory=lambda: LimitsSchema().load({}))
    channels: list[ChannelConfig] = field(default_factory=list)
    sinks: list[SinkConfig] = field(default_factory=list)
    media: dict = field(default_factory=lambda: MediaSettingsSchema().load({}))

    @property
    def data_folder(self) -> Path:
        """Where the files kept beside the store go by default (media, WARC files, the default archive):
        the SQLite file's folder, or ``var/`` beside this file when the store is on PostgreSQL."""
        return _data_folder(self.path.parent, self.store)

    @property
    def media_folder(self) -> Path:
        folder = self.media.get("folder")
        return Path(folder) if folder else self.data_folder / "media"
    capture: dict = field(default_factory=lambda: CaptureSchema().load({}))

    @property
    def default_sink(self) -> str:
        return self.sinks[0].name

    @property
    def capture_folder(self) -> Path | None:
        """Where the WARC files go: ``capture.folder``, else ``warc/`` beside the store; None when off."""
        if not self.capture["enabled"] or (not self.capture["folder"] and str(self.store) == ":memory:"):
            return None
        return Path(self.capture["folder"]) if self.capture["folder"] else self.data_folder / "warc"

    #: ``format`` (text or json) and ``level``: applied by the CLI (:mod:`connector.logs`)
    logging: dict = field(default_factory=lambda: LoggingSchema().load({}))


def _interpolate(node, path, environ, problems, filename, root):
    """Replace ${VAR} references in place; refuse literal secrets; register the real ones.

    Registered values (:func:`connector.redact.register_secret`) are masked in every log line,
    error and status text from then on.
    """
    if isinstance(node, LineDict):
        for key in list(node):
            value = node[key]
            secret = SECRET_KEYS.search(str(key)) is not None
            if secret and isinstance(value, str):
                refusal = _literal_secret(value)
                if refusal:
                    problems.append(Problem(filename, node.key_lines.get(key, node.line),
                                            f"{yamlconf.dotted(path + (key,))}: {refusal}"))
            node[key] = _interpolate(value, path + (key,), environ, problems, filename, root)
            if secret:
                redact.register_secret(node[key])
        return node
    if isinstance(node, LineList):
        for index, value in enumerate(node):
            node[index] = _interpolate(value, path + (index,), environ, problems, filename, root)
        return node
    if isinstance(node, str):
        for what in _literal_url_credentials(node):
            problems.append(Problem(filename, yamlconf.line_of(root, path),
                                    f"{yamlconf.dotted(path)}: secrets must come from the environment;"
                                    f" write ${{SOME_VARIABLE}} for the {what}"))
        if "${" in node:
            def replace(match):
                name, default = match.group(1), match.group(2)
                if name in environ:
                    return environ[name]
                if default is not None:
                    return default
                problems.append(Problem(filename, yamlconf.line_of(root, path),
                                        f"{yamlconf.dotted(path)}: environment variable {name} is not set"))
                return ""
            node = ENV_REF.sub(replace, node)
        redact.register_url_secrets(node)
        return node
    return node


def _literal_secret(value: str) -> str | None:
    """Why the value of a secret key is refused, or ``None``: only a bare ``${VAR}`` is allowed.

    A default (``${VAR:-value}``) would be a literal secret in the file after all; an empty one
    (``${VAR:-}``, an optional token) is fine.
    """
    if not value:
        return None
    match = ENV_REF.fullmatch(value.strip())
    if match is None:
        return "secrets must come from the environment; write ${SOME_VARIABLE} instead of the value"
    if match.group(2):
        return f"secrets must come from the environment; write ${{{match.group(1)}}} without a default value"
    return None


def _literal_url_credentials(template: str) -> list[str]:
    """What credentials a URL in the configuration holds literally (each must be a bare ``${VAR}``).

    Credentials are what :mod:`connector.redact` masks: the password (or a lone user name, except in a
    PostgreSQL store URL, ``postgresql://role@host/db``) in the userinfo and the values of secret-looking
    query parameters (``api_key``, ``token``, ...).
    """
    if not redact.looks_like_url(template):
        return []
    refs = []

    def marker(match):  # references become opaque markers, so a ":" inside one cannot split the userinfo
        refs.append(match)
        return f"\ue000{len(refs) - 1}\ue001"

    marked = ENV_REF.sub(marker, template.strip())
    # a PostgreSQL URL's lone user name is a database role, not a token: its password comes from PGPASSWORD
    role_only = marked.lower().startswith(("postgresql://", "postgres://"))
    literal = []
    for what, value in redact.url_secret_parts(marked):
        if role_only and what == "user name in the URL":
            continue
        ref = re.fullmatch("\ue000(\\d+)\ue001", value)
        if value and (ref is None or refs[int(ref.group(1))].group(2)):
            literal.append(what)
    return literal


def load_config(path: str | Path, environ: dict | None = None) -> Config:
    """Read and validate ``connector.yaml``; raise :class:`ConfigError` listing every problem."""
    path = Path(path)
    filename = str(path)
    environ = os.environ if environ is None else environ
    if not path.exists():
        raise ConfigError([Problem(filename, 1, "configuration file not found")])
    try:
        data = yamlconf.load(path)
    except yamlconf.YamlError as exc:
        raise ConfigError([exc.problem]) from None
    if not isinstance(data, LineDict):
        raise ConfigError([Problem(filename, getattr(data, "line", 1), "the configuration must be a mapping")])

    problems: list[Problem] = []
    _interpolate(data, (), environ, problems, filename, data)
    loaded = None
    try:
        loaded = ConfigSchema().load(data)
    except ValidationError as exc:
        problems += yamlconf.flatten_errors(exc.messages, data, filename)
    problems += _check_options(data, filename, {"channels": SOURCES.load(), "sinks": SINKS.load()})
    # a missing variable already explains why its value fails validation: drop the echo
    unset = {p.message.split(": ", 1)[0] for p in problems if p.message.endswith(" is not set")}
    problems = [p for p in problems
                if p.message.endswith(" is not set") or p.message.split(": ", 1)[0] not in unset]
    if problems:
        raise ConfigError(sorted(set(problems)))

    base = path.parent
    store = _resolve_store(base, loaded["store"])
    return Config(
        path=path,
        store=store,
        mappings=_resolve(base, loaded["mappings"]),
        web=loaded["web"],
        delivery=loaded["delivery"],
        limits=loaded["limits"],
        media={**loaded["media"], "folder": _resolve(base, loaded["media"]["folder"]) if loaded["media"]["folder"]
               else None},
        capture={**loaded["capture"],
                 "folder": loaded["capture"]["folder"] and _resolve(base, loaded["capture"]["folder"])},
        logging=loaded["logging"],
        channels=[ChannelConfig(name=c["name"], kind=c["kind"], options=c["options"],
                                poll_interval=c["poll_interval"], enabled=c["enabled"]) for c in loaded["channels"]],
        sinks=[SinkConfig(name=s["name"], kind=s["kind"], options=s["options"], parallel=s["parallel"],
                          receives=s["receives"]) for s in loaded["sinks"]]
        or default_sinks(_data_folder(base, store) / "connector.db" if isinstance(store, str) else store,
                         loaded["organisation"]),
    )


def default_sinks(store: Path, organisation: dict) -> list[SinkConfig]:
    """The sink of a configuration that names none: MDTO packages in ``archief/`` beside the store, the
    organisation as archiefvormer (the archive sink's other options at their defaults)."""
    folder = (Path(store).parent if str(store) != ":memory:" else Path.cwd()) / DEFAULT_ARCHIVE
    archiefvormer = {key: value for key, value in organisation.items() if value}
    return [SinkConfig(name=DEFAULT_ARCHIVE, kind="archive",
                       options={"folder": str(folder), "archiefvormer": archiefvormer})]


def _check_options(data: LineDict, filename: str, registries: dict) -> list[Problem]:
    """Each channel's and sink's options against its own kind's schema (also when other parts are broken)."""
    problems: list[Problem] = []
    for section, registry in registries.items():
        items = data.get(section)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
                continue
            where = (section, index)
            if item["kind"] not in registry:
                problems.append(Problem(filename, yamlconf.line_of(data, where + ("kind",)),
                                        f"{yamlconf.dotted(where + ('kind',))}: unknown kind {item['kind']!r}"
                                        f" (known: {', '.join(sorted(registry))})"))
                continue
            options = item.get("options", {})
            if not isinstance(options, dict):
                continue  # the top-level schema reports "Not a valid mapping"
            # validate only: the source/sink loads its own options when it is built
            errors = registry[item["kind"]].options_schema().validate(options)
            if errors:
                problems += yamlconf.flatten_errors({section: {index: {"options": errors}}}, data, filename)
    return problems


def _resolve_store(base: Path, value: str) -> Path | str:
    """The store setting: a PostgreSQL URL as it is; a SQLite path or ``sqlite:///path`` resolved like any path."""
    from .store.backend import parse_url

    kind, target = parse_url(value)
    return value if kind == "postgresql" else _resolve(base, target)


def _data_folder(base: Path, store: Path | str) -> Path:
    from .store.backend import parse_url

    return base / "var" if parse_url(store)[0] == "postgresql" else Path(store).parent


def _resolve(base: Path, value: str) -> Path:
    candidate = Path(value)
    return candidate if candidate.is_absolute() or value == ":memory:" else (base / candidate)


__all__ = ["Config", "ConfigError", "ChannelConfig", "SinkConfig", "load_config"]
