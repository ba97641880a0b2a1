"""Topic definitions and the matcher: ambiguous words, inflections, exclusions, loading, keywords."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from spyglass.models import Topic
from spyglass.topics import (
    Matcher,
    TopicsError,
    keyword_topic,
    load_topics,
)
from spyglass.topics.names import resolve_topic, suggest_topics
from support.labels import FIRST_TOPICS, SHIPPED_TOPICS, Score

FIXTURE = Path(__file__).parent / "fixtures" / "labeled_stories.yaml"

SLUGS = list(SHIPPED_TOPICS)


@pytest.fixture(scope="module")
def topics() -> list[Topic]:
    return load_topics()


@pytest.fixture(scope="module")
def matcher(topics: list[Topic]) -> Matcher:
    return Matcher(topics)


def slugs(matcher: Matcher, title: str, summary: str = "") -> set[str]:
    return {m.slug for m in matcher.match(title, summary)}


# ---------------------------------------------------------------------------------------------- data


def test_packaged_topics_have_the_15_slugs(topics: list[Topic]) -> None:
    assert [t.slug for t in topics] == SLUGS
    for t in topics:
        assert t.label and t.description and t.phrases
        assert "\n" not in t.description


def test_generic_words_are_not_phrases(topics: list[Topic]) -> None:
    generic = {"surveillance", "monitoring", "tracking", "camera", "cameras", "police", "data", "privacy"}
    for t in topics:
        assert not generic & {p.casefold() for p in t.phrases}, t.slug


@pytest.mark.parametrize(
    "title,summary",
    [
        ("Police appeal for witnesses", "Officers are checking camera footage and data from the scene."),
        ("Surveillance of flu cases stepped up", "Monitoring and tracking of outbreaks continues."),
        ("Privacy row over council data", "The police and the council share data on tenants."),
        ("New cameras on sale", "Surveillance, monitoring, tracking, camera, police, data."),
    ],
)
def test_generic_words_never_fire_alone(matcher: Matcher, title: str, summary: str) -> None:
    assert matcher.match(title, summary) == []


# ------------------------------------------------------------------ ambiguous words: both senses

HARD_NEGATIVES = [
    (
        "Carter wins in the boxing ring",
        "A points win after ten rounds in the ring at the arena, police said.",
    ),
    ("Ring of Kerry cycle raises €1m", "Thousands rode the Ring of Kerry route at the weekend."),
    ("Call us or ring police on 101", "Anyone with information should ring police on 101."),
    (
        "Pegasus Airlines adds new routes",
        "The carrier's phones lines were busy as Pegasus Airlines sold out flights.",
    ),
    ("Spot the Great Square of Pegasus", "The constellation Pegasus is high in the south in autumn."),
    ("Predator: Badlands review", "The latest Predator film is a bloody, funny thriller at the box office."),
    ("Stingray spotted at aquarium", "Visitors to the aquarium watched a stingray being fed."),
    ("Swimmer stung by stingray at beach", "Police closed the beach after a stingray stung a swimmer."),
    ("Drone music festival returns", "Expect hours of drone music and ambient noise."),
    ("Piper restores antique bagpipe drones", "The bagpipe drones were found in an attic."),
    ("Flock of birds over the estuary", "A flock of geese flew over as police cameras watched the road."),
    ("Farmer's flock killed by dogs", "Police said a flock of sheep was attacked."),
    ("Ice hockey final sells out", "Ice hockey fans queued for tickets, police said."),
    ("Ice cream van stolen", "Police are searching for a stolen ice cream van seen on camera."),
    ("CCTV airs Spring Festival Gala", "State broadcaster CCTV said 700 million people watched."),
    ("Why some people cannot recognise faces", "Prosopagnosia, or face blindness, affects one in 50 people."),
    ("How to plant a garden border", "Fill the back of the border with tall perennials."),
    ("Border collie wins at Crufts", "The border collie beat 200 dogs."),
    ("Parcel tracking outage", "Customers could not use parcel tracking or their tracking number."),
    ("Bird flu surveillance zone declared", "A surveillance zone was set up and vets are monitoring flocks."),
    ("Your weekend watchlist", "Ten new shows to add to your watchlist."),
    ("Tenerife is the winter-sun hotspot", "Holiday hotspot bookings are up."),
    (
        "AI-powered facials that scan your face",
        "The beauty salon's camera analyses your skin before a facial.",
    ),
    ("Farmers monitor livestock with GPS collars", "The collars track cattle and sheep on the hills."),
    # Ordinary senses frozen-2023 found (invented stories of the same shape, not its texts).
    (
        "The novelist who still keeps a landline",
        "She answers on the second ring. We talk by phone for an hour about her mother and the war.",
    ),
    ("How to pick a ringtone", "Ring. Ring. Ring. Most people never change the sound their phone came with."),
    (
        "Regulator urged to drop China's CCTV-4 from cable packages",
        "Critics say the state channel, one of several CCTV channels broadcast abroad, spreads propaganda.",
    ),
    ("Police issue CCTV of man they want to speak to after nightclub assault", "Officers released images."),
    (
        "Black Friday: the doorbell camera and tracker deals worth having",
        "Ring's video doorbell is down to $55 and a four-pack of AirTags is on sale at Amazon for $79.",
    ),
    (
        "Man jailed after boasting about the attack",
        "He was filmed on bodycam telling officers the street was his.",
    ),
    ("Workers at the biggest banks scored record bonuses", "Staff scored pay rises well above inflation."),
    (
        "Hailstorms batter the north after a heatwave",
        "Footage shared on social media showed hail flooding streets.",
    ),
    (
        "A deadly year for the UN",
        "The deaths of scores of aid workers make it the worst conflict for its staff.",
    ),
    (
        "Prince settles phone hacking claim",
        "The tabloid publisher paid a large sum over phone hacking by its reporters.",
    ),
    (
        "The DJI Mavic 4 is the most versatile camera drone yet",
        "The triple-lens drone is a flying camera for hobbyists.",
    ),
    (
        "Best video doorbell cameras of the year",
        "We tested doorbell cameras from every brand; prices are deeply discounted.",
    ),
    ("Nigerian hackers deny running a sextortion ring", "The hackers were extradited to face charges."),
    (
        "Attack drones reshape the battlefield",
        "Uncrewed combat aerial vehicles and killer robots are now common on the modern battlefield.",
    ),
]

SURVEILLANCE_SENSES = [
    ("Amazon's Ring to share doorbell footage with police", "", "cctv"),
    ("Ring cameras", "Ring will let police request video from users.", "cctv"),
    ("NSO's Pegasus found on journalist's phone", "", "spyware"),
    ("Pegasus spyware used against activists", "", "spyware"),
    ("Greek court hears Predator spyware case", "", "spyware"),
    ("Predator used to hack minister's phone", "", "spyware"),
    ("Police used a Stingray to track suspect's phone", "", "cell-site-simulators"),
    ("Stingray device used without warrant", "", "cell-site-simulators"),
    ("Police drones flew over protest", "", "drones"),
    ("Flock Safety cameras installed at town entrances", "", "alpr"),
    ("Council ends Flock contract", "The Flock licence plate cameras will be removed.", "alpr"),
    (
        "ICE bought access to surveillance database",
        "The ICE surveillance contract covers plate data.",
        "border-surveillance",
    ),
    ("CCTV cameras installed in town centre", "", "cctv"),
    ("Police use live facial recognition in Cardiff", "", "face-recognition"),
    ("Smart border towers go up in Arizona", "", "border-surveillance"),
    ("Royal Mail van fitted with GPS tracker by stalker", "", "location-tracking"),
    ("Data brokers sell location data", "", "location-tracking"),
    ("Police face-recognition watchlist grew to 16,000", "", "face-recognition"),
    ("FTC says Ring employees spied on customers", "Staff watched private videos without consent.", "cctv"),
    (
        "Travellers can now skip border checks at the station by scanning their face at home",
        "The app verifies passports before departure.",
        "border-surveillance",
    ),
]


@pytest.mark.parametrize("title,summary", HARD_NEGATIVES)
def test_ordinary_senses_do_not_fire(matcher: Matcher, title: str, summary: str) -> None:
    assert matcher.match(title, summary) == []


@pytest.mark.parametrize("title,summary,slug", SURVEILLANCE_SENSES)
def test_surveillance_senses_fire(matcher: Matcher, title: str, summary: str, slug: str) -> None:
    assert slug in slugs(matcher, title, summary)


def test_context_phrase_needs_an_anchor_nearby(matcher: Matcher) -> None:
    far = "x " * 200
    assert "cctv" in slugs(matcher, "Ring doorbell", "")
    assert "cctv" not in slugs(matcher, "Ring", "")
    assert "spyware" in slugs(matcher, "Pegasus", "phone hacked")
    assert "spyware" not in slugs(matcher, "Pegasus", far + "phone hacked")


def test_exclusion_that_contains_the_hit_only_vetoes_that_hit(matcher: Matcher) -> None:
    # "a ring" / "the ring" contain the ambiguous "ring" but not the stronger "ring doorbell".
    assert "cctv" in slugs(matcher, "Thief caught by the Ring doorbell", "")
    # "ring fenced" vetoes "ring" but not the CCTV phrase nearby.
    assert "cctv" in slugs(matcher, "Ring-fenced money for CCTV cameras", "")


def test_exclusion_naming_another_subject_vetoes_nearby_hits(matcher: Matcher) -> None:
    assert "face-recognition" in slugs(matcher, "Police recognise faces with new cameras")
    assert "face-recognition" not in slugs(matcher, "People with face blindness cannot recognise faces")


# -------------------------------------------------------- inflection, spelling, hyphens, apostrophes


@pytest.mark.parametrize(
    "text,slug",
    [
        ("police drone", "drones"),
        ("police drones", "drones"),
        ("police fly a quadcopter", "drones"),
        ("quadcopters watched the protesters", "drones"),
        ("faces recognised by cameras", "face-recognition"),
        ("faces recognized by cameras", "face-recognition"),
        ("cameras recognising faces", "face-recognition"),
        ("cameras recognizing faces", "face-recognition"),
        ("facial recognition", "face-recognition"),
        ("facial-recognition", "face-recognition"),
        ("facial\u2011recognition", "face-recognition"),  # non-breaking hyphen
        ("Facial\u00a0Recognition", "face-recognition"),  # no-break space
        ("licence plate readers", "alpr"),
        ("license plate reader", "alpr"),
        ("license-plate reader", "alpr"),
        ("number-plate recognition", "alpr"),
        ("numberplate cameras", "alpr"),
        ("body-worn cameras", "body-cameras"),
        ("body worn camera", "body-cameras"),
        ("bodycams", "body-cameras"),
        ("emotion-recognition", "biometrics"),
        ("IMSI-catchers", "cell-site-simulators"),
        ("end\u2013to\u2013end encryption", "encryption"),
        ("employee monitoring", "workplace-surveillance"),
        ("Amazon\u2019s Ring", "cctv"),  # curly apostrophe
        ("NSO\u2019s spyware", "spyware"),
        ("Clearview\u2019s database", "face-recognition"),
        ("spied on staff using bossware", "workplace-surveillance"),
        ("e-gates", "border-surveillance"),
        ("ePassport gates", "border-surveillance"),
    ],
)
def test_inflections_spellings_and_punctuation(matcher: Matcher, text: str, slug: str) -> None:
    assert slug in slugs(matcher, text)


@pytest.mark.parametrize(
    "text,not_slug",
    [
        ("the police station", "border-surveillance"),  # no "ice" inside "police"
        ("during the meeting", "cctv"),  # no "ring" inside "during"
        ("ANPRX123 code", "alpr"),
        ("droneship launch", "drones"),
        ("unICEF and ICEland", "border-surveillance"),
        ("flocks of sheep near the police cameras", "alpr"),  # "=flock": no inflection
    ],
)
def test_word_boundaries(matcher: Matcher, text: str, not_slug: str) -> None:
    assert not_slug not in slugs(matcher, text)


@pytest.mark.parametrize(
    "text,slug",
    [
        ("(CCTV)", "cctv"),
        ("“CCTV” cameras", "cctv"),
        ("CCTV🔍", "cctv"),
        ("NSO's", "spyware"),
        ("police drones.", "drones"),
        ("ANPR/CCTV", "alpr"),
    ],
)
def test_punctuation_is_a_boundary(matcher: Matcher, text: str, slug: str) -> None:
    assert slug in slugs(matcher, text)


def test_title_and_summary_do_not_join_into_a_phrase(matcher: Matcher) -> None:
    assert "cctv" not in slugs(matcher, "Winners of the ring", "Doorbell repairs")
    assert "cctv" in slugs(matcher, "Ring doorbell", "")


def test_a_reason_across_title_and_summary_shows_both_sides_not_the_separator(matcher: Matcher) -> None:
    """The matcher joins title and summary with a NUL; a near pair with a side in each once reported
    the NUL itself, which a reader saw as garbage and PostgreSQL's jsonb refused (the whole source
    failed to store)."""
    [m] = matcher.match("Council social media monitoring", "surveillance of protesters")
    assert m.slug == "social-media-monitoring"
    assert m.phrases == ("social media monitoring … surveillance",)
    assert not any(ch < " " for ph in m.phrases for ch in ph)


def test_match_reports_phrases_as_written(matcher: Matcher) -> None:
    [m] = matcher.match("Police fit licence-plate readers", "")
    assert m.slug == "alpr"
    assert m.phrases == ("licence-plate readers",)  # the story's words, not the topic's pattern
    [m] = matcher.match("Flock cameras", "")
    assert m.phrases == ("Flock cameras",)
    by_slug = {
        x.slug: x for x in matcher.match("School cameras will recognise pupils’ faces at the till", "")
    }
    assert by_slug["face-recognition"].phrases == ("recognise pupils’ faces",)


def test_topics_returned_in_given_order(topics: list[Topic]) -> None:
    m = Matcher(list(reversed(topics)))
    got = [x.slug for x in m.match("Police drones with facial recognition", "and body-worn cameras")]
    assert got == ["body-cameras", "drones", "face-recognition"]


def test_empty_and_odd_inputs(matcher: Matcher) -> None:
    assert matcher.match("", "") == []
    assert matcher.match("\u202e\u200b", "<!here> <b></b>") == []
    assert Matcher([]).match("CCTV", "") == []


# ------------------------------------------------------------------------------- keyword topics


def test_keyword_topic_shape() -> None:
    t = keyword_topic("Palantir")
    assert t.slug.startswith("kw:")
    assert t.label == '"Palantir"'
    assert t.phrases == ("Palantir",)
    assert keyword_topic("palantir").slug == t.slug  # stable on the folded phrase
    assert keyword_topic("Palantir", ["stock"]).slug != t.slug
    assert keyword_topic("Palantir", ["Stock", "x"]).slug == keyword_topic("palantir", ["x", "stock"]).slug


def test_keyword_topic_matching_and_excludes() -> None:
    kw = keyword_topic("Kerry", excludes=["Ring of Kerry"])
    kw2 = keyword_topic("Met Police")
    m = Matcher([kw, kw2])
    assert [x.slug for x in m.match("Kerry council meets", "")] == [kw.slug]
    assert m.match("Ring of Kerry closed", "Kerry councillors met.") == []  # excludes veto the story
    assert m.match("Kerryman wins", "") == []  # whole words only
    [hit] = m.match("Met\u00a0police chiefs", "")
    assert hit.slug == kw2.slug and hit.phrases == ("Met Police",)  # a keyword reads as the person typed it


def test_keyword_topics_do_not_anchor_context_phrases(topics: list[Topic]) -> None:
    m = Matcher([*topics, keyword_topic("sea lions")])
    assert {x.slug for x in m.match("Stingray and sea lions at the zoo", "")} == {m.topics[-1].slug}


def test_keyword_topic_rejects_empty() -> None:
    with pytest.raises(TopicsError):
        keyword_topic("  !! ")


def test_keyword_with_operators_is_literal() -> None:
    t = keyword_topic("=foo ~ bar")
    m = Matcher([t])
    assert m.match("foo bar", "")
    assert not m.match("foo and then bar", "")


# ---------------------------------------------------------------------------- resolve / suggest


@pytest.mark.parametrize(
    "name,slug",
    [
        ("face-recognition", "face-recognition"),
        ("Face Recognition", "face-recognition"),
        ("FACE_RECOGNITION", "face-recognition"),
        ("facerecognition", "face-recognition"),
        ("Body-worn cameras", "body-cameras"),
        ("cell site simulators", "cell-site-simulators"),
        ("ALPR", "alpr"),
    ],
)
def test_resolve_topic(topics: list[Topic], name: str, slug: str) -> None:
    t = resolve_topic(name, topics)
    assert t is not None and t.slug == slug


def test_resolve_topic_unknown(topics: list[Topic]) -> None:
    assert resolve_topic("weather", topics) is None
    assert resolve_topic("", topics) is None


@pytest.mark.parametrize(
    "name,slug",
    [
        ("facial recognition", "face-recognition"),
        ("drone", "drones"),
        ("plate readers", "alpr"),
        ("stingray", "cell-site-simulators"),
        ("bodycams", "body-cameras"),
        ("spy ware", "spyware"),
    ],
)
def test_suggest_topics(topics: list[Topic], name: str, slug: str) -> None:
    got = suggest_topics(name, topics)
    assert got and len(got) <= 3
    assert slug in [t.slug for t in got]


def test_suggest_topics_nothing_close(topics: list[Topic]) -> None:
    assert suggest_topics("zzzzqqq", topics) == []
    assert suggest_topics("drone", topics, n=1)[0].slug == "drones"


# ------------------------------------------------------------------------------------ loading


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "topics.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_load_from_path_and_bare_list(tmp_path: Path) -> None:
    p = write(tmp_path, "- {slug: x-ray, label: X, phrases: [x ray]}\n")
    [t] = load_topics(p)
    assert t == Topic(slug="x-ray", label="X", phrases=("x ray",))


@pytest.mark.parametrize(
    "text,needle",
    [
        ("topics: [ {slug: a, label: A, phrases: [x]\n", "invalid YAML"),
        ("topics:\n  - {slug: a, phrases: [x]}\n", "'a': missing 'label'"),
        ("topics:\n  - {slug: a, label: A, phrases: [x], colour: red}\n", "unknown key 'colour'"),
        ("topics:\n  - {slug: a, label: A}\n", "missing 'phrases'"),
        ("topics:\n  - {slug: Bad Slug, label: A, phrases: [x]}\n", "'slug'"),
        ("topics:\n  - {label: A, phrases: [x]}\n", "topic #1: missing 'slug'"),
        ("topics:\n  - {slug: a, label: A, phrases: x}\n", "'phrases' must be a list"),
        ("topics:\n  - {slug: a, label: A, phrases: ['  ']}\n", "empty or malformed phrase"),
        ("topics:\n  - {slug: a, label: A, phrases: ['a ~ b ~ c']}\n", "malformed phrase"),
        (
            "topics:\n  - {slug: a, label: A, phrases: [x]}\n  - {slug: a, label: B, phrases: [y]}\n",
            "duplicate",
        ),
        ("topics: 3\n", "expected a 'topics' list"),
        ("things: []\n", "unknown top-level key 'things'"),
        ("topics:\n  - just a string\n", "expected a mapping"),
    ],
)
def test_load_errors(tmp_path: Path, text: str, needle: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(TopicsError) as err:
        load_topics(p)
    msg = str(err.value)
    assert needle in msg
    assert str(p) in msg
    assert "\n" not in msg


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TopicsError, match="cannot read"):
        load_topics(tmp_path / "nope.yaml")


def test_overrides_replace_and_add(topics: list[Topic]) -> None:
    got = load_topics(
        overrides=[
            {"slug": "drones", "label": "UAVs", "phrases": ["uav"]},
            {"slug": "palantir", "label": "Palantir", "phrases": ["Palantir"], "description": "Data firm"},
        ]
    )
    assert [t.slug for t in got] == [*SLUGS, "palantir"]
    drones = got[SLUGS.index("drones")]
    assert drones.label == "UAVs" and drones.phrases == ("uav",)
    m = Matcher(got)
    assert {x.slug for x in m.match("Palantir wins drone deal", "")} == {"palantir", "police-databases"}
    assert topics[SLUGS.index("drones")].label == "Drones"  # the packaged list is untouched


def test_overrides_are_validated() -> None:
    with pytest.raises(TopicsError, match=r"overrides\[0\] \('x'\): unknown key 'phrase'"):
        load_topics(overrides=[{"slug": "x", "label": "X", "phrase": ["y"]}])


# --------------------------------------------------------------------------- bounded, linear work


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "blob",
    [
        "ring " * 200_000,
        "a" * 1_000_000,
        "ice cream police " * 60_000,
        "facial recognition " * 50_000,
        "monitor social media " * 50_000,
        ("\u0301" * 10 + "x") * 90_000,
    ],
)
def test_pathological_input_returns_quickly(matcher: Matcher, blob: str) -> None:
    t0 = time.perf_counter()
    matcher.match(blob, blob)
    assert time.perf_counter() - t0 < 10  # generous: real speed is measured in benchmarks


def test_only_the_first_characters_are_read(matcher: Matcher) -> None:
    assert matcher.match("x", "padding " * 5000 + "CCTV") == []


# -------------------------------------------------------------- precision / recall on the fixture


def test_fixture_precision_and_recall(matcher: Matcher) -> None:
    items = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))["items"]
    assert len(items) >= 150
    covered = set()
    score = Score()
    misses = []
    for item in items:
        expected = set(item["expected_topics"])
        assert expected <= set(SLUGS), item["title"]
        covered |= expected
        got = slugs(matcher, item["title"], item["summary"])
        extra, missing = score.add(got, expected)
        if extra or missing:
            misses.append((item["title"], sorted(expected), sorted(got)))
    assert set(FIRST_TOPICS) <= covered  # the ten later topics have their own set
    assert score.precision >= 0.95, misses
    assert score.recall >= 0.95, misses


def test_no_exclusion_is_just_a_phrase_of_its_own_topic(topics: list[Topic]) -> None:
    # An exclusion equal to a phrase (after folding) would veto every hit of that phrase.
    def key(p: str) -> str:
        return " ".join("".join(c if c.isalnum() else " " for c in p.lstrip("=").casefold()).split())

    for t in topics:
        phrases = {key(p) for p in (*t.phrases, *t.context_phrases)}
        assert not phrases & {key(x) for x in t.exclusions}, t.slug


@pytest.mark.parametrize(
    "title,summary,fires",
    [
        ("Drone footage shows the volcano's lava reaching the sea", "", False),
        ("Drone crashes into erupting volcano", "The flight to film the crater did not go to plan.", False),
        ("Police fly drone over protest", "Officers said the footage would be kept for 30 days.", True),
        ("Council drones to spot fly-tipping", "", True),
    ],
)
def test_a_topic_with_anchors_of_its_own_reads_its_context_by_them(
    matcher: Matcher, title: str, summary: str, fires: bool
) -> None:
    # "footage" and "camera" are shared surveillance anchors, but say nothing about what a drone watches.
    assert ("drones" in slugs(matcher, title, summary)) is fires


def test_agency_names_alone_are_immigration_news_not_border_surveillance(matcher: Matcher) -> None:
    assert "border-surveillance" not in slugs(
        matcher, "Border Patrol agents rescue children in Rio Grande", ""
    )
    assert "border-surveillance" in slugs(matcher, "Border Patrol adds surveillance towers in Arizona", "")


def test_malware_is_spyware_only_near_someone_watched(matcher: Matcher) -> None:
    assert "spyware" not in slugs(matcher, "Banking malware hits 300,000 Android phones", "")
    assert "spyware" in slugs(matcher, "Malware used to spy on exiled journalists", "")
