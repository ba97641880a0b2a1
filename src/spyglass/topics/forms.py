"""Surface forms: how one phrase of a topic can appear in a story (inflections, British and
American spellings), and the word-only keys the automaton and the story text share. Pure.

Search uses the same spelling table (``spelling_variants``), so a query for "licence plate"
finds "license plate" exactly as a topic does.
"""

from __future__ import annotations

import itertools

from spyglass.text import fold


class _WordChars(dict[int, int]):
    """str.translate table: every character that is not a letter or digit becomes a space.

    Filled lazily (one dict entry per distinct character ever seen), so lookups stay in C. NUL is kept:
    it separates the title from the summary.
    """

    def __missing__(self, code: int) -> int:
        value = code if code == 0 or chr(code).isalnum() else 32
        self[code] = value
        return value


# Word boundaries without a per-hit check: punctuation becomes a space in keys and in text, and every
# key is padded with a space each side, so a key only matches whole words ("ice" never inside "police").
# Runs of punctuation are not collapsed, in either: "predator: badlands" matches "Predator: Badlands".
WORD_CHARS = _WordChars()


_SPELLING = {
    "licence": "license",
    "license": "licence",
    "licences": "licenses",
    "licenses": "licences",
    "neighbour": "neighbor",
    "neighbor": "neighbour",
    "neighbours": "neighbors",
    "neighbors": "neighbours",
    "centre": "center",
    "center": "centre",
    "defence": "defense",
    "defense": "defence",
    "programme": "program",
    "analyse": "analyze",
    "analyze": "analyse",
    "behavioural": "behavioral",
    "behavioral": "behavioural",
    "numberplate": "number plate",
    "cellphone": "cell phone",
    "bodycam": "body cam",
}
_ISE = (
    ("isation", "ization"),
    ("isations", "izations"),
    ("ise", "ize"),
    ("ises", "izes"),
    ("ised", "ized"),
    ("ising", "izing"),
    ("iser", "izer"),
    ("isers", "izers"),
)
_VOWELS = set("aeiou")


def spelling_variants(word: str) -> set[str]:
    out = {word}
    if word in _SPELLING:
        out.add(_SPELLING[word])
    for brit, amer in _ISE:
        for a, b in ((brit, amer), (amer, brit)):
            if word.endswith(a) and len(word) > len(a) + 2:
                out.add(word[: -len(a)] + b)
    return out


def inflections(word: str) -> set[str]:
    """Plural and verb forms of one word (over-generation is harmless: unused forms never match)."""
    out = {word}
    if not word.isalpha() or len(word) < 3:
        return out
    last, prev = word[-1], word[-2]
    if last == "y" and prev not in _VOWELS:
        out |= {word[:-1] + "ies", word[:-1] + "ied", word + "ing"}
    elif last == "e":
        out |= {word + "s", word + "d", word[:-1] + "ing"}
    elif word.endswith(("s", "x", "z", "ch", "sh")):
        out |= {word + "es", word + "ed", word + "ing"}
    else:
        out |= {word + "s", word + "ed", word + "ing"}
        cvc = last not in _VOWELS and last not in "wxy" and prev in _VOWELS and word[-3] not in _VOWELS
        if (cvc and len(word) <= 4) or (last == "l" and prev in _VOWELS):  # scanned, tagged, surveilled
            out |= {word + last + "ed", word + last + "ing"}
    return out


def surface_forms(phrase: str) -> set[str]:
    """All folded forms one phrase (one side of an "A ~ B") can take in text."""
    exact = phrase.startswith("=")
    words = fold(phrase.lstrip("=")).split(" ")
    forms: set[str] = set()
    for combo in itertools.islice(itertools.product(*(spelling_variants(w) for w in words)), 64):
        head, tail = list(combo[:-1]), combo[-1]
        for last in {tail} if exact else inflections(tail):
            forms.add(" ".join([*head, last]))
    return {k for k in (key(f) for f in forms) if k}


def key(folded: str) -> str:
    """Words only, single spaces: how both keys and story text look to the automaton."""
    return folded.translate(WORD_CHARS).strip()
