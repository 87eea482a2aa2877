"""Data inside markup: HTML script blocks and markdown, made inert.

Category values, column names and error texts come from the traffic a model scores, so
anyone who can send that traffic chooses them. Wherever driftline puts them into a
document a person opens (HTML reports, Prefect markdown artifacts, gate reports), they
are escaped here, so a value such as ``</script><script>...`` is shown, never run.
"""

from __future__ import annotations

import html
import re

_MD_SPECIAL = re.compile(r"([\\`\[\]!|])")


def markdown_text(value: object) -> str:
    """``value`` as literal text inside markdown (Prefect artifacts, gate reports): HTML
    special characters become entities (``<`` is ``&lt;``: no tag, autolink or script), and
    the punctuation of links, images, code spans and table cells (``[ ] ! ` | \\``) is
    backslash-escaped; line breaks become spaces, so a value cannot start a block of its
    own. (Emphasis characters are left alone: harmless, and ``model_name`` stays legible.)"""
    text = html.escape(" ".join(str(value).split()), quote=True)
    return _MD_SPECIAL.sub(r"\\\1", text)


def seal_script_json(page: str, begin: int, end: int) -> str:
    """``page`` with every ``<`` in ``page[begin:end]`` written as ``\\u003c``. For the body
    of a script element that holds only JSON (where ``<`` can occur only inside string
    literals, and ``\\u003c`` is the same string), so no value can close the element
    (``</script>``) or open a comment (``<!--``)."""
    if not 0 <= begin <= end <= len(page):
        raise ValueError(f"bad region {begin}:{end} of a page of {len(page)} characters")
    return page[:begin] + page[begin:end].replace("<", "\\u003c") + page[end:]
