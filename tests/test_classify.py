"""The backstop classifier (spyglass.classify): loads, recovers a paraphrase the phrase matcher misses, adds
nothing for ordinary-sense hard negatives, and adds no false label on any labelled fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spyglass.classify import _DEFAULT_MODEL, Backstop
from spyglass.defaults import MAX_TITLE
from spyglass.text import clean_text
from spyglass.topics import Matcher, load_topics
from support.labels import tolerated

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def backstop() -> Backstop:
    return Backstop(load_topics())


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_topics())


def test_model_loads_and_is_small(backstop: Backstop) -> None:
    assert _DEFAULT_MODEL.stat().st_size < 2_000_000
    assert set(backstop.slugs) == {t.slug for t in load_topics()}
    assert 0 < backstop.threshold < 1
    probs = backstop.predict("", "")
    assert set(probs) == set(backstop.slugs)
    assert all(0 <= p < backstop.threshold for p in probs.values())


def test_paraphrase_the_matcher_misses_is_added(backstop: Backstop, matcher: Matcher) -> None:
    title = "Officers in Leeds to wear recording devices on their uniforms"
    summary = "Every response officer will have a chest-mounted video unit by spring, the force said."
    assert not matcher.match(title, summary)  # a paraphrase: no phrase of the topics file
    assert backstop.topics(title, summary) == {"body-cameras"}


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        (
            "Boxing: champion returns to the ring in Las Vegas",
            "The heavyweight title fight drew a record crowd.",
        ),
        (
            "Drone light show over the harbour lights up New Year",
            "Five hundred drones formed patterns in the sky.",
        ),
        ("Farmer's flock of sheep rescued from flood", "Volunteers moved 200 ewes to higher ground."),
        ("Pegasus Airlines adds new routes to Istanbul", "The low-cost carrier will fly to ten more cities."),
        (
            "Parcel tracking app tells shoppers where deliveries are",
            "The courier's map updates every minute.",
        ),
        (
            "Man with face blindness describes life without recognising his family",
            "Prosopagnosia affects 1 in 50.",
        ),
    ],
)
def test_ordinary_senses_add_nothing(backstop: Backstop, title: str, summary: str) -> None:
    assert backstop.topics(title, summary) == set()


def test_bare_headlines_are_left_to_the_matcher(backstop: Backstop) -> None:
    # Too few known words for the classifier to judge: one word would decide ("Ring" -> cctv).
    for title in ("Ring", "Ring doorbell", "Pegasus phone hacked", "Police"):
        assert backstop.topics(title, "") == set(), title


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("labeled_stories*.yaml")), ids=lambda p: p.stem)
def test_no_false_additions_on_labelled_sets(backstop: Backstop, matcher: Matcher, path: Path) -> None:
    # In-sample (the model was trained on these): a regression guard that wiring the backstop into the
    # matcher cannot lower any set's precision, not an estimate of accuracy on unseen stories.
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    false: list[str] = []
    for item in raw["items"] if isinstance(raw, dict) else raw:
        title, summary = clean_text(item["title"], MAX_TITLE), clean_text(item["summary"])
        expected = set(item["expected_topics"] or ())
        found = {m.slug for m in matcher.match(title, summary)}
        extra = backstop.topics(title, summary) - found - expected - tolerated(expected)
        if extra:
            false.append(f"{item.get('id', '')} {item['title']!r}: {sorted(extra)}")
    assert not false, false


@pytest.mark.parametrize("enabled", [True, False])
def test_the_service_matcher_uses_the_backstop_unless_turned_off(tmp_path: Path, enabled: bool) -> None:
    """[topics] classifier = false leaves matching to the phrase lists alone."""
    from spyglass.config import load_settings
    from spyglass.service import build_services
    from spyglass.topics import BACKSTOP_REASON

    cfg = tmp_path / "spyglass.toml"
    cfg.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "s.db"}"\n[topics]\nclassifier = {str(enabled).lower()}\n'
    )
    svc = build_services(load_settings(cfg, env={}))
    _, matcher = svc.plan_and_matcher()
    title = "Officers in Leeds to wear recording devices on their uniforms"
    summary = (
        "West Yorkshire Police says every officer on patrol will carry a small recording device clipped to "
        "their uniform from April, and footage will be kept for 31 days unless it is needed as evidence."
    )
    found = {m.slug: m.phrases for m in matcher.match(title, summary)}
    if enabled:
        assert found.get("body-cameras") == (BACKSTOP_REASON,)
    else:
        assert "body-cameras" not in found
