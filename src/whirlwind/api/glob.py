"""gobwas/glob patterns (no separators) as Python regular expressions.

Centrifugo's ``channels`` method filters with ``glob.Compile(pattern)`` from
``github.com/gobwas/glob`` and no separators (server-api.md §9.11). The syntax, as that
library's lexer reads it:

* ``*`` (and ``**``) any run of characters, ``:`` included; ``?`` exactly one character;
* ``[abc]`` one of the listed characters, ``[!abc]`` none of them, ``[a-z]`` / ``[!a-z]`` a
  range (which must be followed by ``]`` at once);
* ``{a,b,c}`` alternatives, each a pattern of its own (nesting allowed); outside braces ``,``
  and ``}`` are plain characters;
* ``\\x`` the character ``x`` itself, anywhere, including inside ``[...]``.

An unterminated ``[`` or ``{``, a dangling ``\\`` or a reversed range is invalid.
"""

from __future__ import annotations

import re

__all__ = ["GlobError", "compile_glob", "glob_to_regex"]


class GlobError(ValueError):
    """The pattern is not a valid gobwas/glob pattern."""


def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile ``pattern``; use ``.fullmatch`` on candidate strings.

    Raises:
        GlobError: the pattern is invalid.
    """
    try:
        return re.compile(glob_to_regex(pattern), re.DOTALL)
    except re.error as exc:  # a reversed range such as [z-a]
        raise GlobError(f"invalid pattern: {exc}") from exc


def glob_to_regex(pattern: str) -> str:
    """The regular expression source equivalent to ``pattern`` (anchoring left to the caller).

    Raises:
        GlobError: the pattern is invalid.
    """
    source, end = _sequence(pattern, 0, in_terms=False)
    assert end == len(pattern)
    return source


def _sequence(p: str, i: int, *, in_terms: bool) -> tuple[str, int]:
    parts: list[str] = []
    n = len(p)
    while i < n:
        c = p[i]
        if in_terms and c in ",}":
            break
        if c == "*":
            parts.append(".*")
            i += 1
        elif c == "?":
            parts.append(".")
            i += 1
        elif c == "[":
            source, i = _range(p, i + 1)
            parts.append(source)
        elif c == "{":
            alternatives: list[str] = []
            i += 1
            while True:
                source, i = _sequence(p, i, in_terms=True)
                alternatives.append(source)
                if i >= n:
                    raise GlobError("unclosed {")
                i += 1
                if p[i - 1] == "}":
                    break
            parts.append("(?:" + "|".join(alternatives) + ")")
        elif c == "\\":
            if i + 1 >= n:
                raise GlobError("unclosed escape")
            parts.append(re.escape(p[i + 1]))
            i += 2
        else:
            parts.append(re.escape(c))
            i += 1
    return "".join(parts), i


def _range(p: str, i: int) -> tuple[str, int]:
    n = len(p)
    negate = i < n and p[i] == "!"
    if negate:
        i += 1
    if i + 1 < n and p[i + 1] == "-":
        if i + 2 >= n:
            raise GlobError("unexpected end of input in [...]")
        lo, hi = p[i], p[i + 2]
        i += 3
        if i >= n or p[i] != "]":
            raise GlobError("expected ] after a range")
        return f"[{'^' if negate else ''}{re.escape(lo)}-{re.escape(hi)}]", i + 1
    chars: list[str] = []
    while True:
        if i >= n:
            raise GlobError("unclosed [")
        c = p[i]
        if c == "]":
            break
        if c == "\\":
            if i + 1 >= n:
                raise GlobError("unclosed escape")
            c = p[i + 1]
            i += 1
        chars.append(c)
        i += 1
    if not chars:
        # [] matches no character, [!] any one character.
        return ("." if negate else "(?!)"), i + 1
    body = "".join(re.escape(c) for c in chars)
    return f"[{'^' if negate else ''}{body}]", i + 1
