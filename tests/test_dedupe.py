"""Near-duplicate detection on its own (pure). The stored, indexed path is tested in test_ingest."""

from __future__ import annotations

import numpy as np

from spyglass import dedupe

SEED_EXCERPT = (
    "MAKING Cleveland a leader in face recognition software is in the sights of a new police boss. South Wales "
    "Police and the Metropolitan Police have piloted the use of cameras to find suspects. But there have been some "
    "problems since their launch – with concerns from civil liberties campaigners and devices used in Wales ruled "
    "unlawful in 2020."
)


def sim(a: tuple[str, str], b: tuple[str, str]) -> float:
    return dedupe.similarity(dedupe.signature(*a), dedupe.signature(*b))


def test_same_outlet_republish_with_tweaked_headline_is_a_duplicate() -> None:
    a = ("Push to have Cleveland at 'forefront' of face recognition technology", SEED_EXCERPT)
    b = ("Push to put Cleveland Police at 'forefront' of face recognition technology", SEED_EXCERPT)
    assert dedupe.is_near_duplicate(sim(a, b), same_site=True)


def test_wire_copy_with_new_headline_is_a_duplicate_across_outlets() -> None:
    body = (
        "A federal appeals court upheld a ruling that spyware maker Acme Intelligence was liable for hacking about "
        "900 messaging app users with its Falcon software, but sent the damages award back to the trial judge."
    )
    a = ("Acme Intelligence loses appeal over messaging hack verdict", body)
    b = ("Appeals court upholds verdict against Acme in spyware case", body.replace("upheld", "has upheld"))
    assert dedupe.is_near_duplicate(sim(a, b), same_site=False)


def test_two_forces_announcing_vans_the_same_day_stay_separate() -> None:
    a = (
        "Essex Police to trial facial recognition vans in Chelmsford",
        "Essex Police will deploy two live facial recognition vans outside Chelmsford station during a month-long "
        "trial after a pilot in Southend led to three arrests.",
    )
    b = (
        "Kent Police to trial facial recognition vans in Maidstone",
        "Kent Police said live facial recognition vans would be parked in Maidstone town centre on market days, "
        "scanning shoppers against a watchlist of people wanted for serious offences.",
    )
    assert not dedupe.is_near_duplicate(sim(a, b), same_site=False)
    assert not dedupe.is_near_duplicate(sim(a, b), same_site=True)


def test_same_headline_frame_different_city_stays_separate() -> None:
    a = (
        "Records show police drones hovered over Seattle protest for six hours",
        "Seattle police flew drones over a May Day march downtown for six hours, according to flight logs obtained "
        "by a civil liberties group.",
    )
    b = (
        "Records show police drones hovered over Portland protest for five hours",
        "Portland police used two drones above a rally at the waterfront for about five hours, newly released "
        "flight records show, prompting questions from the city council.",
    )
    assert sim(a, b) < dedupe.SAME_SITE_THRESHOLD


def test_signature_is_deterministic_and_roundtrips() -> None:
    s1 = dedupe.signature("Title", "Some summary text about cameras")
    s2 = dedupe.signature("Title", "Some summary text about cameras")
    assert np.array_equal(s1, s2)
    back = dedupe.from_bytes(dedupe.to_bytes(s1))
    assert back is not None and np.array_equal(back, s1)
    assert dedupe.from_bytes(b"\x09" + b"\x00" * 256) is None  # another scheme never compares


def test_band_keys_are_bigint_sized_and_band_specific() -> None:
    keys = dedupe.band_keys(dedupe.signature("a b c", "d e f g"))
    assert len(keys) == dedupe.BANDS
    assert all(-(2**63) <= k < 2**63 for k in keys)
    same = np.zeros(dedupe.NUM_PERM, dtype=np.uint32)
    # identical rows in every band still give different keys per band
    assert len(set(dedupe.band_keys(same))) == dedupe.BANDS


def test_estimate_tracks_true_jaccard() -> None:
    words = [f"w{i}" for i in range(200)]
    a = " ".join(words[:120])
    b = " ".join(words[60:180])
    sa, sb = dedupe.shingles("", a), dedupe.shingles("", b)
    true = len(sa & sb) / len(sa | sb)
    est = dedupe.similarity(dedupe.signature("", a), dedupe.signature("", b))
    assert abs(est - true) < 0.15


def test_stories_with_too_little_text_are_never_near_duplicates() -> None:
    # Two different items of one feed, a few words each: a similarity estimate would be noise.
    first = dedupe.signature("The First Item", "This is the first item.")
    second = dedupe.signature("The Second Item", "This is the second item.")
    assert not dedupe.comparable(first) and not dedupe.comparable(second)
    assert dedupe.band_keys(first) == []
    full = dedupe.signature(
        "Push to have Cleveland at 'forefront' of face recognition technology", SEED_EXCERPT
    )
    assert dedupe.comparable(full) and len(dedupe.band_keys(full)) == dedupe.BANDS
