"""Marshmallow schemas for mapping files: structure, types and values, unknown keys refused.

Loading a file through :class:`FileSchema` and each rule through :class:`RuleSchema` gives
normalised data: condition values as lists in comparable form (handles lower-case without ``@``,
hashtags without ``#``), regexes compiled (RE2), templates parsed. Cross-field checks (match groups a
template uses, unique names, one ``unmatched:`` policy) are done by the engine, which knows
the whole rule and all files.
"""
from __future__ import annotations

import re

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from ..message import KINDS
from ..routing import (VERTROUWELIJKHEIDAANDUIDINGEN, WAARDERINGEN, Archief, Informatiecategorie,
                       archief_problems)
from . import templates
from .conditions import normalise
from .regex import RegexError, compile_pattern

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}\Z")
UNMATCHED_RULE = "unmatched"  # the rule name a Routing of the unmatched policy carries
SINK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
HANDLE = re.compile(r"@?[^@\s]+(@[^@\s]+)?\Z")
HASHTAG = re.compile(r"#?[^\s#]+\Z")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*\Z")
ACTION_KEYS = ("attach", "create", "follow_thread", "hold", "ignore")
OPTION_KEYS = ("informatieobjecttype", "vertrouwelijkheidaanduiding", "titel", "sink", "archief")


class Text(fields.String):
    """A string that says so when YAML turned the value into a boolean or number."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError(f"must be text, but YAML read {value!r} as a boolean: quote it")
        if isinstance(value, (int, float)):
            raise ValidationError(f"must be text, but YAML read {value!r} as a number: quote it")
        value = super()._deserialize(value, attr, data, **kwargs)
        if not value.strip():
            raise ValidationError("must not be empty")
        return value


class TemplateField(Text):
    """A template, parsed at load (see :mod:`connector.rules.templates`)."""

    def __init__(self, *, groups_allowed: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.groups_allowed = groups_allowed

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            template = templates.parse(value)
        except templates.TemplateError as exc:
            raise ValidationError(str(exc)) from None
        if template.groups and not self.groups_allowed:
            raise ValidationError("match groups ({match....}) can only be used in a rule, not in defaults")
        return template


class OneOrMany(fields.Field):
    """A single value or a non-empty list of them (a list means any-of); always loads as a list."""

    def __init__(self, inner: fields.Field, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValidationError("must not be an empty list")
        out, errors = [], {}
        for index, item in enumerate(items):
            try:
                out.append(self.inner.deserialize(item))
            except ValidationError as exc:
                errors[index] = exc.messages
        if errors:
            raise ValidationError(errors if isinstance(value, list) else errors[0])
        return out


class Normalised(Text):
    """Text checked against a pattern, then put in the form conditions compare (see ``normalise``)."""

    def __init__(self, condition: str, pattern: re.Pattern | None = None, hint: str = "", **kwargs):
        super().__init__(**kwargs)
        self.condition, self.pattern, self.hint = condition, pattern, hint

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if self.pattern and not self.pattern.match(value.strip()):
            raise ValidationError(f"{value!r} is not {self.hint}")
        return normalise(self.condition, value)


class Regex(Text):
    """A regular expression in RE2 syntax, compiled at load (see :mod:`connector.rules.regex`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            return compile_pattern(value)
        except RegexError as exc:
            raise ValidationError(f"invalid regular expression: {exc}") from None


class StrictBoolean(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


def _unknown_message(schema_class, where: str):
    allowed = ", ".join(field.data_key or name for name, field in schema_class._declared_fields.items())
    schema_class.error_messages = {"unknown": f"unknown key in {where} (allowed: {allowed})"}


class WhenSchema(Schema):
    class Meta:
        unknown = RAISE

    channel = OneOrMany(Text())
    account = OneOrMany(Normalised("account", HANDLE, "a handle like name or @name@host"))
    hashtag = OneOrMany(Normalised("hashtag", HASHTAG, "a hashtag like afval or #afval"))
    mention = OneOrMany(Normalised("mention", HANDLE, "a handle like name or @name@host"))
    keyword = OneOrMany(Normalised("keyword"))
    regex = OneOrMany(Regex())
    is_reply = StrictBoolean()
    language = OneOrMany(Normalised("language", LANGUAGE, "a language code like nl, en or nl-BE"))
    kind = OneOrMany(Text(validate=validate.OneOf(KINDS)))
    any = fields.List(fields.Nested(lambda: WhenSchema()),
                      validate=validate.Length(min=1, error="must not be an empty list"))
    # "not" is a Python keyword, hence the attribute name.
    not_ = fields.Nested(lambda: WhenSchema(), data_key="not")

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if "not_" in data and not data["not_"]:
            raise ValidationError("needs at least one condition", "not")

    @post_load
    def _condition_names(self, data, **kwargs):
        if "not_" in data:
            data["not"] = data.pop("not_")
        return data


class InformatiecategorieSchema(Schema):
    """A category of the selectielijst: ``label`` (its title), ``code`` and the ``selectielijst`` itself."""

    class Meta:
        unknown = RAISE

    label = Text(required=True)
    code = Text()
    selectielijst = Text(required=True)

    @post_load
    def _make(self, data, **kwargs):
        return Informatiecategorie(**data)


class ArchiefSchema(Schema):
    """The archival appraisal (MDTO): waardering B/V/N, a bewaartermijn with V only, the informatiecategorie."""

    class Meta:
        unknown = RAISE

    waardering = Text(required=True, validate=validate.OneOf(
        WAARDERINGEN, error="must be one of B, V, N (blijvend te bewaren, tijdelijk te bewaren, nader te bepalen)"))
    bewaartermijn = Text()
    informatiecategorie = fields.Nested(InformatiecategorieSchema)

    @validates_schema
    def _termijn(self, data, **kwargs):
        if "waardering" in data:
            for key, text in archief_problems(data["waardering"], data.get("bewaartermijn")).items():
                raise ValidationError(text, key)

    @post_load
    def _make(self, data, **kwargs):
        return Archief(**data)


class DefaultsSchema(Schema):
    class Meta:
        unknown = RAISE

    informatieobjecttype = Text()
    vertrouwelijkheidaanduiding = Text(validate=validate.OneOf(VERTROUWELIJKHEIDAANDUIDINGEN))
    titel = TemplateField(groups_allowed=False)
    # one sink or a list of them: the message goes to each (see connector.fanout)
    sink = OneOrMany(Text(validate=validate.Regexp(SINK_NAME, error="not a sink name")))
    # the archival appraisal for an archive sink (MDTO waardering, bewaartermijn, informatiecategorie)
    archief = fields.Nested(ArchiefSchema)


class CreateSchema(Schema):
    class Meta:
        unknown = RAISE

    zaaktype = Text(required=True)
    omschrijving = TemplateField()
    toelichting = TemplateField()


class ActionSchema(DefaultsSchema):
    """Exactly one action plus per-rule options; used for ``otherwise:`` (no follow_thread there)."""

    titel = TemplateField()
    attach = TemplateField()
    create = fields.Nested(CreateSchema)
    hold = TemplateField(allow_none=True)
    ignore = TemplateField(error_messages={"null": "needs a reason: why is this message not archived?"})

    @validates_schema
    def _one_action(self, data, **kwargs):
        found = [key for key in ACTION_KEYS if key in data]
        allowed = [key for key in ACTION_KEYS if key in self.fields]
        if len(found) != 1:
            raise ValidationError(f"needs exactly one action of {', '.join(allowed)}"
                                  f" (found {', '.join(found) or 'none'})")


class FollowThreadSchema(Schema):
    class Meta:
        unknown = RAISE

    otherwise = fields.Nested(ActionSchema)


class ThenSchema(ActionSchema):
    follow_thread = fields.Nested(FollowThreadSchema, allow_none=True)


class RuleSchema(Schema):
    class Meta:
        unknown = RAISE

    name = Text(required=True, validate=validate.Regexp(
        NAME, error="use letters, digits, space, '.', '_' or '-' (at most 100 characters)"))
    description = Text()
    enabled = StrictBoolean()
    when = fields.Nested(WhenSchema, required=True)
    then = fields.Nested(ThenSchema, required=True)

    @validates_schema
    def _reserved(self, data, **kwargs):
        if data.get("name") == UNMATCHED_RULE:
            raise ValidationError(f"{UNMATCHED_RULE!r} is reserved for the unmatched policy", "name")


class FileSchema(Schema):
    """The top level of a mapping file. Rules are checked one by one by :class:`RuleSchema`."""

    class Meta:
        unknown = RAISE

    rules = fields.List(fields.Raw())
    defaults = fields.Nested(DefaultsSchema)
    global_defaults = fields.Nested(DefaultsSchema)
    unmatched = fields.Nested(ThenSchema)


for _schema, _where in ((WhenSchema, "when"), (DefaultsSchema, "defaults"), (CreateSchema, "create"),
                        (ArchiefSchema, "archief"), (InformatiecategorieSchema, "informatiecategorie"),
                        (ActionSchema, "an action"), (ThenSchema, "then"), (FollowThreadSchema, "follow_thread"),
                        (RuleSchema, "a rule"), (FileSchema, "a mapping file")):
    _unknown_message(_schema, _where)
