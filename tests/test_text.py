"""Text cleaning for display and folding for matching."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from spyglass import text as T
from spyglass.text import clean_text, fold, truncate


def _general_fold(s: str) -> str:
    s = unicodedata.normalize("NFKC", s)
    return T._WS.sub(" ", T._INVISIBLE.sub("", s).translate(T._FOLD_TABLE).casefold()).strip()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_folds_exactly_like_the_general_path(s: str) -> None:
    assert fold(s) == _general_fold(s)


def test_fold_meets_phrases_and_text_in_one_form() -> None:
    assert fold("Face\u2011Recognition\u00a0Van’s") == "face recognition van's"
    assert fold("ＡＮＰＲ") == "anpr"  # NFKC: full-width letters
    assert fold("li\u200bve facial") == "live facial"  # zero-width space dropped


def test_clean_text_strips_markup_controls_and_entities() -> None:
    raw = "<p>Police &amp;amp; <b>council</b></p><script>alert(1)</script>\x00\x1b[31m ok\u0085"
    assert clean_text(raw) == "Police & council [31m ok"


def test_truncate_on_a_word_boundary() -> None:
    assert truncate("one two three four", 12) == "one two…"
    assert len(truncate("x" * 50, 10)) == 10


def test_html_to_text_keeps_words_apart_and_markup_out() -> None:
    from spyglass.text import clean_text

    assert (
        clean_text("<p>Hello <b>wor</b>ld</p><p>Two<br>three</p><script>x=1</script>")
        == "Hello world Two three"
    )
    assert clean_text("submitted by<a href='/u/x'>someone</a>to<a href='/r/y'>privacy</a>") == (
        "submitted by someone to privacy"
    )
    assert clean_text("see <a href='/x'>here</a>.") == "see here."
    assert clean_text("5 < 6 and 7 > 3") == "5 < 6 and 7 > 3"
    assert clean_text("AT&T; Q&A; caf&eacute; &amp;rsquo;") == "AT&T Q&A café \u2019"
