"""Saved versions of the mapping files (the web UI's rule editor): who saved what, when and why.

* :meth:`RuleVersionsMixin.save_rule_version` numbers versions per file (1, 2, ...) inside one write
  transaction, so two saves at once cannot get the same number; it also writes ``rules.saved`` to
  the audit trail (file, version, author, sha256, never the content).
* Versions are never changed or deleted: a rollback is a new version with the old content.
* :meth:`RuleVersionsMixin.rule_versions` lists without the content (a list page stays small);
  :meth:`RuleVersionsMixin.rule_version` and :meth:`RuleVersionsMixin.newest_rule_version` include it.
"""
from __future__ import annotations

import hashlib

from .base import _now

_LIST = "id, file, version, author, saved_at, comment, sha256, length(content) as size"
_FULL = "id, file, version, author, saved_at, comment, sha256, content"


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


class RuleVersionsMixin:
    """The ``rule_versions`` table: the part of :class:`connector.store.Store` the rule editor uses."""

    def save_rule_version(self, file: str, content: str, author: str, comment: str) -> dict:
        """Record ``content`` as the next version of ``file``; ``ValueError`` without author or comment."""
        if not (author or "").strip():
            raise ValueError("een versie heeft een auteur nodig")
        if not (comment or "").strip():
            raise ValueError("een versie heeft een toelichting nodig")
        digest = content_sha256(content)
        with self._write():
            self._one_at_a_time(f"rule_versions:{file}")  # two saves at once: versions n and n + 1, in turn
            row = self.db.execute("select coalesce(max(version), 0) from rule_versions where file = ?",
                                  [file]).fetchone()
            version = row[0] + 1
            self.db.execute("insert into rule_versions (file, version, author, saved_at, comment, content, sha256)"
                            " values (?,?,?,?,?,?,?)", [file, version, author, _now(), comment, content, digest])
            self._event("rules.saved", detail={"file": file, "version": version, "user": author,
                                               "sha256": digest, "comment": comment})
        return self.rule_version(file, version)

    def rule_versions(self, file: str) -> list[dict]:
        """The versions of ``file``, newest first, without their content (``size``: its length)."""
        return self.query(f"select {_LIST} from rule_versions where file = ? order by version desc", [file])

    def rule_version(self, file: str, version: int) -> dict | None:
        """Version ``version`` of ``file`` with its content, or None."""
        rows = self.query(f"select {_FULL} from rule_versions where file = ? and version = ?", [file, version])
        return rows[0] if rows else None

    def newest_rule_version(self, file: str) -> dict | None:
        """The newest version of ``file`` with its content, or None when none was saved."""
        rows = self.query(f"select {_FULL} from rule_versions where file = ? order by version desc limit 1", [file])
        return rows[0] if rows else None
