"""A registry that doubles as a class decorator and refuses duplicates."""
from __future__ import annotations


class Registry(dict):
    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def register(self, cls):
        kind = getattr(cls, "kind", None)
        if not kind:
            raise TypeError(f"{cls.__name__} has no 'kind'")
        if kind in self:
            raise ValueError(f"{self.what} kind {kind!r} registered twice ({self[kind].__name__}, {cls.__name__})")
        self[kind] = cls
        return cls

    def get_class(self, kind: str):
        try:
            return self[kind]
        except KeyError:
            known = ", ".join(sorted(self)) or "none"
            raise KeyError(f"unknown {self.what} kind {kind!r} (known: {known})") from None
