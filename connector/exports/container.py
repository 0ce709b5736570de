"""A platform export as hostile input: a zip file or its unpacked folder, read member by member in memory.

Nothing is ever extracted to disk, so a member named ``../../etc/passwd`` cannot write anywhere; names
are only compared with the paths an importer expects (``data/tweets.js``), optionally under one
wrapper folder (``twitter-2025-01-22-abc/data/tweets.js``), and a name with ``..``, a backslash, an
absolute path or a control character is never matched. A folder's member must be a regular file
whose resolved path stays inside the folder (a symbolic link out of it is refused).

Every read is bounded: a member's declared size, its compression ratio (a zip bomb declares a small
compressed size and inflates to gigabytes) and the bytes actually read (a lying header) are checked
against :class:`Limits`, so one crafted archive costs at most ``max_json_bytes`` of memory.
"""
from __future__ import annotations

import io
import re
import stat
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator

MiB = 1024 * 1024
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\\]")


class ExportError(ValueError):
    """An export that cannot be read as a whole (missing file, not a zip, over a limit); the text says
    what was expected and what to do."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one export may make the importer read (see the module docstring).

    ``max_json_bytes``: one data file (X's ``tweets.js`` is about 2 KB per tweet, so 512 MiB is about
    250,000 tweets; X splits larger ones into ``tweets-part1.js`` ...). ``max_ratio``: the largest
    compression ratio accepted for a member over 1 MiB (JSON compresses 5 to 20 times; a bomb
    thousands). ``max_media_bytes``: one photo or video opened by :func:`connector.exports.open_media`.
    ``max_members``: entries in the zip's directory.
    """

    max_json_bytes: int = 512 * MiB
    max_ratio: int = 100
    max_media_bytes: int = 200 * MiB
    max_members: int = 500_000


def safe_name(name: str) -> str | None:
    """``name`` as a relative POSIX path, or None when it is absolute, climbs (``..``) or holds control
    characters or backslashes: such a member is never read."""
    if not name or name.startswith("/") or _BAD_NAME.search(name):
        return None
    parts = PurePosixPath(name).parts
    if any(part in ("..", ".") for part in name.split("/")) or not parts or ":" in parts[0]:
        return None
    return "/".join(parts)


class Export:
    """One export opened for reading: ``names`` (relative paths of its files), bounded ``read``, ``open``.

    ``label`` names it in ``Raw.page_url`` and messages (the zip's or folder's own name); ``mtime``
    is the zip's (or folder's) modification time, the fetch time when the export states none.
    """

    def __init__(self, path: Path, limits: Limits | None = None):
        self.path = Path(path)
        self.limits = limits or Limits()
        self.label = self.path.name
        if not self.path.exists():
            raise ExportError(f"{self.path}: no such file or folder")
        self.mtime = datetime.fromtimestamp(self.path.stat().st_mtime, timezone.utc)
        self._zip: zipfile.ZipFile | None = None
        self._infos: dict[str, zipfile.ZipInfo] = {}
        if self.path.is_dir():
            self.names = sorted(self._folder_names())
            return
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ExportError(f"{self.path}: not a zip file nor a folder ({exc})") from None
        infos = self._zip.infolist()
        if len(infos) > self.limits.max_members:
            self.close()
            raise ExportError(f"{self.path}: {len(infos)} entries, more than the {self.limits.max_members} allowed")
        for info in infos:
            name = safe_name(info.filename)
            if name is not None and not info.is_dir():
                self._infos.setdefault(name, info)
        self.names = sorted(self._infos)

    def _folder_names(self) -> Iterator[str]:
        root = self.path
        count = 0
        for found in root.rglob("*"):
            count += 1
            if count > self.limits.max_members:
                raise ExportError(f"{root}: more than {self.limits.max_members} files")
            if found.is_file() and not found.is_symlink():
                name = safe_name(found.relative_to(root).as_posix())
                if name is not None:
                    yield name

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> "Export":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def find(self, pattern: str) -> list[str]:
        """Names matching ``pattern`` (a regular expression for the path inside the export) at the top
        or under one wrapper folder, sorted; the top level wins when both have it."""
        exact = re.compile(pattern)
        top = [n for n in self.names if exact.fullmatch(n)]
        if top:
            return top
        return [n for n in self.names if "/" in n and exact.fullmatch(n.split("/", 1)[1])]

    def written(self, name: str) -> datetime:
        """When the export was made, as far as the files tell: the zip's modification time, or the
        folder member ``name``'s (an unpacked folder's own time changes with every file added), UTC."""
        if self._zip is not None:
            return self.mtime
        return datetime.fromtimestamp(self._file(name).stat().st_mtime, timezone.utc)

    def read(self, name: str, limit: int | None = None) -> bytearray:
        """The bytes of member ``name``, at most ``limit`` (default ``max_json_bytes``); ExportError beyond.

        Read into one buffer of the declared size (a bytearray: a 400 MB tweets.js is held once, not
        once in chunks and once joined); a member longer than it declared still stops at ``limit``.
        """
        limit = self.limits.max_json_bytes if limit is None else limit
        with self.open(name, limit) as stream:  # raises ExportError past the limit
            buffer = bytearray(min(self._declared(name), limit) + 1)
            filled = 0
            while True:
                if filled == len(buffer):
                    buffer.extend(bytes(MiB))  # longer than declared
                with memoryview(buffer) as view:
                    got = stream.readinto(view[filled:])
                if not got:
                    break
                filled += got
        del buffer[filled:]
        return buffer

    def _declared(self, name: str) -> int:
        return self._infos[name].file_size if self._zip is not None else self._file(name).stat().st_size

    def open(self, name: str, limit: int) -> BinaryIO:
        """A stream of member ``name``, refused when its declared size or compression ratio is over the
        limits; reading more than ``limit`` bytes from it raises ExportError (a header may lie)."""
        where = f"{self.label}/{name}"
        if self._zip is None:
            target = self._file(name)
            size = target.stat().st_size
            if size > limit:
                raise ExportError(f"{where}: {size} bytes, more than the {limit} allowed")
            return _Bounded(open(target, "rb"), limit, where)
        info = self._infos.get(name)
        if info is None:
            raise ExportError(f"{where}: no such member")
        if info.flag_bits & 0x1:
            raise ExportError(f"{where}: encrypted; export the archive again without a password")
        if info.file_size > limit:
            raise ExportError(f"{where}: {info.file_size} bytes, more than the {limit} allowed")
        if info.file_size > MiB and info.file_size > self.limits.max_ratio * max(info.compress_size, 1):
            raise ExportError(f"{where}: compressed {info.compress_size} bytes inflate to {info.file_size}, "
                              f"a ratio over {self.limits.max_ratio}: refused as a possible zip bomb")
        try:
            return _Bounded(self._zip.open(info), limit, where)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
            raise ExportError(f"{where}: unreadable zip member ({exc})") from None

    def _file(self, name: str) -> Path:
        root = self.path.resolve()
        target = (root / name).resolve()
        if not target.is_relative_to(root):
            raise ExportError(f"{self.label}/{name}: points outside the export folder")
        mode = target.lstat().st_mode if target.exists() else 0
        if not stat.S_ISREG(mode):
            raise ExportError(f"{self.label}/{name}: not a regular file")
        return target


class _Bounded(io.RawIOBase):
    """A member's stream that fails once more than ``limit`` bytes came out of it (a lying zip header)."""

    def __init__(self, inner: BinaryIO, limit: int, where: str):
        self.inner, self.left, self.where = inner, limit, where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.inner.read(min(len(buffer), self.left + 1, MiB))
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ExportError(f"{self.where}: unreadable ({exc})") from None
        if len(data) > self.left:
            raise ExportError(f"{self.where}: more bytes than its limit")
        self.left -= len(data)
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()
