"""Where messages go: the Slack Web API, or the console when no Slack token is set."""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, TextIO
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from spyglass.delivery.console import clean, render_alert
from spyglass.models import AlertView

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


def slack_client(token: str, api_url: str) -> WebClient:
    client = WebClient(token=token, base_url=api_url, timeout=15)
    # slack_sdk retries only connection errors by default; 429s honour Retry-After here. Only errors
    # raised before the request was sent (urllib wraps those in URLError) are retried at once: a reset
    # or a timeout while waiting for the answer may follow a post Slack made, and is checked first.
    client.retry_handlers = [
        ConnectionErrorRetryHandler(max_retry_count=2, error_types=[URLError]),
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
    ]
    return client


class SlackPoster:
    local = False

    def __init__(self, client: WebClient, pacing: float = 1.0) -> None:
        self.client = client
        self.pacing = pacing

    def post(
        self, channel: str, message: dict[str, Any], view: AlertView, thread_ts: str | None, key: str = ""
    ) -> PostOutcome:
        kwargs = dict(message)
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        if key:
            kwargs["metadata"] = {"event_type": METADATA_TYPE, "event_payload": {"delivery": key}}
        return self.post_message(channel, kwargs)

    def post_message(self, channel: str, message: dict[str, Any]) -> PostOutcome:
        try:
            resp = self.client.chat_postMessage(channel=channel, **message)
        except SlackApiError as e:
            error = str(e.response.get("error") or f"HTTP {e.response.status_code}")
            return PostOutcome(
                _classify(error, e),
                error=error,
                retry_after=_retry_after(e),
            )
        except URLError as e:  # never reached Slack (refused, DNS, connect timeout), after the SDK's retries
            return PostOutcome(Result.RETRY, error=f"cannot reach Slack: {e.reason}"[:300])
        except Exception as e:  # sent, then no answer (timeout, reset, closed): Slack may have posted it
            return PostOutcome(Result.LOST, error=f"no answer from Slack: {type(e).__name__}: {e}"[:300])
        return PostOutcome(Result.SENT, ts=str(resp.get("ts") or ""))

    def notify(self, user: str, text: str) -> bool:
        """A private note to one person, in the app's Messages tab (chat:write; a user id as the channel)."""
        try:
            self.client.chat_postMessage(channel=user, text=text, unfurl_links=False, unfurl_media=False)
            return True
        except SlackApiError as e:  # a note that cannot be delivered must not disturb delivery
            log.warning("could not tell %s: %s", user, e.response.get("error"))
        except Exception as e:
            log.warning("could not tell %s: %s", user, type(e).__name__)
        return False

    def find(self, channel: str, key: str, thread_ts: str | None, since: float) -> Lookup:
        """One history call over the minutes around the unanswered attempt, looking for the message
        whose metadata names this delivery (a thread's replies are only in conversations.replies)."""
        oldest, latest = f"{since - LOOKBACK:.6f}", f"{since + LOOKAHEAD:.6f}"
        try:
            if thread_ts:
                resp = self.client.conversations_replies(
                    channel=channel,
                    ts=thread_ts,
                    oldest=oldest,
                    latest=latest,
                    limit=15,
                    include_all_metadata=True,
                    inclusive=True,
                )
            else:
                resp = self.client.conversations_history(
                    channel=channel,
                    oldest=oldest,
                    latest=latest,
                    limit=15,
                    include_all_metadata=True,
                    inclusive=True,
                )
        except SlackApiError as e:
            return Lookup(
                error=str(e.response.get("error") or f"HTTP {e.response.status_code}"),
                retry_after=_retry_after(e),
            )
        except Exception as e:
            return Lookup(error=f"{type(e).__name__}: {e}"[:300])
        for m in resp.get("messages") or []:
            meta = m.get("metadata") or {}
            if (
                meta.get("event_type") == METADATA_TYPE
                and (meta.get("event_payload") or {}).get("delivery") == key
            ):
                return Lookup(ts=str(m.get("ts") or ""))
        return Lookup()


def _retry_after(e: SlackApiError) -> float | None:
    """Slack's Retry-After, in seconds, when it sent one."""
    retry = e.response.headers.get("Retry-After") or e.response.headers.get("retry-after")
    return float(retry) if retry and str(retry).isdigit() else None


def _classify(error: str, e: SlackApiError) -> Result:
    if error in AUTH_ERRORS:
        return Result.AUTH
    if error in CHANNEL_ERRORS:
        return Result.CHANNEL_GONE
    status = e.response.status_code
    if status == 429 or status >= 500 or error in TRANSIENT_ERRORS or _not_from_slack(e):
        return Result.RETRY
    return Result.REJECTED


def _not_from_slack(e: SlackApiError) -> bool:
    """An answer that is not Slack's JSON (an HTML page from a proxy or load balancer, an empty body)
    says nothing about the message: it is an outage, waited out like a 5xx."""
    data = e.response.data
    if not isinstance(data, dict) or not data:
        return True
    # slack_sdk stands in {"ok": false, "error": "Received a response in a non-JSON format: …"} for it
    return str(data.get("error") or "").startswith("Received a response in a non-JSON format")


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
