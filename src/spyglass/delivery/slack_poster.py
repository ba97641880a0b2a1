"""Posting to the Slack Web API (slack_sdk's WebClient), each answer sorted into a `Result`."""

from __future__ import annotations

import logging
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from spyglass.delivery.posters import (
    AUTH_ERRORS,
    CHANNEL_ERRORS,
    LOOKAHEAD,
    LOOKBACK,
    METADATA_TYPE,
    TRANSIENT_ERRORS,
    Lookup,
    PostOutcome,
    Result,
)
from spyglass.models import AlertView

log = logging.getLogger(__name__)


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
        window: dict[str, Any] = {
            "channel": channel,
            "oldest": oldest,
            "latest": latest,
            "limit": 15,
            "include_all_metadata": True,
            "inclusive": True,
        }
        try:
            if thread_ts:
                resp = self.client.conversations_replies(ts=thread_ts, **window)
            else:
                resp = self.client.conversations_history(**window)
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
