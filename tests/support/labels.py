"""Scoring topic labels against the labelled fixtures: one definition of what counts, shared by
the quality tests and bench/realnews.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# The topics the package ships, written out here (not read from the product) so a lost topic fails.
SHIPPED_TOPICS = (
    "face-recognition",
    "drones",
    "alpr",
    "spyware",
    "predictive-policing",
    "cctv",
    "biometrics",
    "cell-site-simulators",
    "social-media-monitoring",
    "gunshot-detection",
    "location-tracking",
    "encryption",
    "workplace-surveillance",
    "border-surveillance",
    "body-cameras",
    # The field's own categories, added with the taxonomy work
    "real-time-crime-centers",
    "camera-registries",
    "video-analytics",
    "police-databases",
    "mobile-forensics",
    "data-brokers",
    "electronic-monitoring",
    "police-robots",
    "dna-surveillance",
    "school-surveillance",
)
# Lines test_topic_quality.py leaves for the end-of-run summary (tests/conftest.py prints them).
QUALITY_REPORT: list[str] = []

# The first fifteen, which the older fixture sets were written for.
FIRST_TOPICS = SHIPPED_TOPICS[:15]

# Extra labels a story may also get without counting as a false positive: a face-recognition story
# usually mentions the cameras, a plate-reader story the journeys it records, and so on.
TOLERATED = {
    "face-recognition": {"biometrics", "cctv"},
    "alpr": {"cctv", "location-tracking"},
    "cell-site-simulators": {"location-tracking"},
    "body-cameras": {"cctv"},
}


def tolerated(expected: set[str]) -> set[str]:
    return set().union(*(TOLERATED.get(e, set()) for e in expected))


def load_items(file: str | Path, set_no: int | None = None) -> list[dict[str, Any]]:
    """The items of a fixture file (a mapping with `items`, or a bare list), optionally one `set`."""
    path = file if isinstance(file, Path) else FIXTURES / file
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = raw["items"] if isinstance(raw, dict) else raw
    return [i for i in items if set_no is None or i.get("set") == set_no]


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, found: set[str], expected: set[str]) -> tuple[set[str], set[str]]:
        """Count one story; returns (extra, missing) for the report."""
        extra, missing = found - expected - tolerated(expected), expected - found
        self.tp += len(found & expected)
        self.fp += len(extra)
        self.fn += len(missing)
        return extra, missing

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
