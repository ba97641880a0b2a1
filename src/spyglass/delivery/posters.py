"""Where messages go: the outcomes every poster reports, and the console when no Slack token is
set. The Slack Web API poster is in `slack_poster.py`, so that console runs never import slack_sdk
(a tenth of a second of every `poll --once`)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from spyglass.delivery.console import clean, render_alert
from spyglass.models import AlertView

if TYPE_CHECKING:
    from spyglass.config import Settings

log = logging.getLogger(__name__)

# Errors that will not go away by retrying: the channel's subscriptions are paused instead.
CHANNEL_ERRORS = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "restricted_action",
        "channel_is_archived",
        "team_access_not_granted",
    }
)
# Slack's own way of saying "not now".
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# Errors that mean the whole app cannot post; retrying each message would only spam logs.
AUTH_ERRORS = frozenset(
    {"not_authed", "invalid_auth", "token_revoked", "account_inactive", "token_expired", "missing_scope"}
)


class Result(Enum):
    """What became of one post, and so what the outbox does next (`Outbox._record`)."""

    SENT = "sent"
    RETRY = "retry"  # transient: Slack or the network is having trouble, not this message; wait it out
    LOST = "lost"  # transient: sent, but no answer came; it may be in the channel (looked for first)
    REJECTED = "rejected"  # permanent for this message: Slack refused it; a few attempts, then failed
    CHANNEL_GONE = "channel_gone"  # permanent for the channel: pause its subscriptions, hold its queue
    AUTH = "auth"  # permanent for the app: the token is refused; stop delivering, spend no attempts


@dataclass
class PostOutcome:
    result: Result
    ts: str = ""
    error: str = ""
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        return self.result in (Result.RETRY, Result.LOST)


@dataclass
class Lookup:
    """Whether a post whose answer was lost is in the channel after all."""

    ts: str = ""  # found: its ts
    error: str = ""  # could not look (then the caller decides)
    retry_after: float | None = None


class Poster(Protocol):
    pacing: float  # seconds between two posts to one channel
    # Posts that cannot fail or lose their answer (the console): the outbox writes a whole batch
    # in one transaction instead of one claim, post and mark per row.
    local: bool

    def post(
        self, channel: str, message: dict[str, Any], view: AlertView, thread_ts: str | None, key: str = ""
    ) -> PostOutcome: ...

    def post_message(self, channel: str, message: dict[str, Any]) -> PostOutcome:
        """A message that is not one story's alert (a digest)."""
        ...

    def find(self, channel: str, key: str, thread_ts: str | None, since: float) -> Lookup: ...

    def notify(self, user: str, text: str) -> bool: ...


METADATA_TYPE = "spyglass_delivery"  # message metadata naming the delivery, so a lost answer can be checked
# The check reads from a minute before the unanswered attempt (clocks differ) to two after it (the
# client's timeout and the SDK's own retries), so a busy channel's later messages do not crowd it out.
LOOKBACK, LOOKAHEAD = 60.0, 120.0


class ConsolePoster:
    """Prints alerts readably. Used when no SLACK_BOT_TOKEN is set."""

    pacing = 0.0
    local = True

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def post(
        self, channel: str, message: dict[str, Any], view: AlertView, thread_ts: str | None, key: str = ""
    ) -> PostOutcome:
        with self._lock:
            if thread_ts:
                who = view.provider or ("the same outlet" if view.update else "another outlet")
                lead = "updated by" if view.update else "also covered by"
                self.stream.write(f"  ↳ {lead} {clean(who)}: {clean(view.title)}\n    {clean(view.url)}\n\n")
            else:
                self.stream.write(render_alert(view) + "\n\n")
            self.stream.flush()
        return PostOutcome(Result.SENT, ts=f"{time.time():.6f}")

    def post_message(self, channel: str, message: dict[str, Any]) -> PostOutcome:
        with self._lock:
            self.stream.write(clean(str(message.get("text", ""))) + "\n\n")
            self.stream.flush()
        return PostOutcome(Result.SENT, ts=f"{time.time():.6f}")

    def find(self, channel: str, key: str, thread_ts: str | None, since: float) -> Lookup:
        return Lookup()  # printing always succeeds, so nothing is ever unconfirmed

    def notify(self, user: str, text: str) -> bool:
        with self._lock:
            self.stream.write(f"[note for {clean(user)}] {clean(text)}\n\n")
            self.stream.flush()
        return True


def make_poster(settings: Settings) -> Poster:
    """Slack when a bot token is set, else the console (and then slack_sdk is never imported)."""
    if not settings.slack.bot_token:
        return ConsolePoster()
    from spyglass.delivery.slack_poster import SlackPoster, slack_client

    return SlackPoster(
        slack_client(settings.slack.bot_token, settings.slack.api_url), pacing=settings.slack.post_interval
    )
