"""What a `/spyglass` command answers: a message, private unless the channel should see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spyglass.delivery.blocks import build_notice


@dataclass
class Reply:
    message: dict[str, Any]
    in_channel: bool = False


def notice(text: str) -> Reply:
    """A private answer, to the person who asked."""
    return Reply(build_notice(text))


def announce(text: str) -> Reply:
    """An answer the whole channel sees (its subscriptions or sources changed)."""
    msg = build_notice(text)
    msg["response_type"] = "in_channel"
    return Reply(msg, in_channel=True)
