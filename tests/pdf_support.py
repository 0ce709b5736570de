"""Reading PDF renditions back in tests: the PRONOM identification pygfried (DROID's signatures) gives,
and the text pypdf extracts (``flat``: without white space, where a line may wrap anywhere)."""
from __future__ import annotations

import io

import pygfried
import pypdf

PDFA_PUIDS = ("fmt/480", "fmt/477")  # PDF/A-3b (an original embedded), PDF/A-2b


def identify(tmp_path, data: bytes) -> str:
    path = tmp_path / "document.pdf"
    path.write_bytes(data)
    return pygfried.identify(str(path))


def text_of(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    return "".join(text.split())


def flat_text(data: bytes) -> str:
    """The PDF's text without white space (compare with ``flat(expected)``)."""
    return flat(text_of(data))
