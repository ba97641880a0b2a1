"""Bolt wiring: the `/spyglass` command, acknowledged at once and answered through respond() after."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from spyglass.service import Services
from spyglass.slack.commands import Caller, handle
from spyglass.slack.interactions import register as register_interactions

log = logging.getLogger(__name__)
LISTENER_THREADS = 16  # Bolt's default of 5 would 404 a sixth concurrent slow command
REMEMBERED_REQUESTS = 2000  # recent requests kept to recognise Slack's retries of them


class _SeenRequests:
    """Requests this process has already handled, so that Slack's retry of one (sent when the
    first answer seemed slow, with `X-Slack-Retry-Num`) does not act twice. Per process: with
    several web processes a retry may reach another one, which then acts (at most once more)."""

    def __init__(self, size: int = REMEMBERED_REQUESTS) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def first_time(self, key: str) -> bool:
        with self._lock:
            if key in self._keys:
                return False
            self._keys[key] = None
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)
            return True


def _request_key(req: BoltRequest) -> str:
    body = req.body if isinstance(req.body, dict) else {}
    # A slash command's trigger_id is unique per invocation; anything else is known by its bytes.
    trigger = str(body.get("trigger_id") or body.get("event_id") or "")
    raw = trigger or req.raw_body
    return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()


def channel_problem(client: WebClient, channel: str) -> str | None:
    """Can the app post in ``channel``? Public channels take its posts (chat:write.public); a private
    channel or a conversation it was not invited to does not. None when it can, or cannot tell (a
    token without channels:read/groups:read, Slack unreachable): then the subscription goes ahead."""
    try:
        info = client.conversations_info(channel=channel).get("channel") or {}
    except SlackApiError as e:
        if e.response.get("error") == "channel_not_found":  # private, and the app is not in it
            return "Spyglass cannot see this channel. Invite it first (`/invite @Spyglass`), then subscribe again."
        return None
    except Exception:  # noqa: BLE001 - cannot tell: do not block the user
        return None
    if info.get("is_archived"):
        return "This channel is archived, so Spyglass cannot post here."
    if info.get("is_member"):
        return None
    if info.get("is_im") or info.get("is_mpim"):
        return "Spyglass cannot post in this conversation. Subscribe a channel instead."
    if info.get("is_private"):
        return "Spyglass is not in this private channel. Invite it first (`/invite @Spyglass`), then subscribe again."
    return None


def workspace_admin(client: WebClient, user: str) -> bool | None:
    """Is ``user`` an admin or owner of the workspace (users.info, scope users:read)? None: Slack
    would not say, and then nobody but `[slack] source_admins` may change sources."""
    try:
        info = client.users_info(user=user).get("user") or {}
    except Exception:  # noqa: BLE001 - missing scope, unreachable: cannot tell
        return None
    return bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))


def user_zone(client: WebClient, user: str) -> str | None:
    """The time zone ``user`` set in Slack (users.info `tz`, e.g. "Europe/London"), or None."""
    try:
        info = client.users_info(user=user).get("user") or {}
    except Exception:  # noqa: BLE001 - missing scope, unreachable: the channel's digest falls back to UTC
        return None
    tz = info.get("tz")
    return str(tz) if tz else None


def upload_chart(client: WebClient, channel: str, data: bytes, title: str, comment: str) -> str | None:
    """Post a PNG in ``channel`` (files_upload_v2: files.getUploadURLExternal, the bytes, then
    files.completeUploadExternal); None when done, else Slack's reason."""
    try:
        client.files_upload_v2(
            channel=channel, file=data, filename="spyglass-trends.png", title=title, initial_comment=comment
        )
    except SlackApiError as e:
        return str(e.response.get("error") or "error")
    except Exception as e:  # noqa: BLE001 - unreachable, a refused upload URL: the text table instead
        return type(e).__name__
    return None


def _not_the_token_notice(record: logging.LogRecord) -> bool:
    # Bolt also reads SLACK_BOT_TOKEN from the environment and warns at every start that the client
    # we give it (made from the same token) wins. Nothing is wrong; keep it out of the log.
    return not str(record.msg).startswith("As you gave `client` as well")


def build_app(svc: Services, client: WebClient, *, socket_mode: bool = False) -> App:
    """Over HTTP Bolt verifies every request's signature with SLACK_SIGNING_SECRET and rejects stale
    ones; Socket Mode has no HTTP requests to verify, so it needs no secret."""
    bolt_log = logging.getLogger("spyglass.slack.bolt")
    if _not_the_token_notice not in bolt_log.filters:
        bolt_log.addFilter(_not_the_token_notice)
    app = App(
        client=client,
        signing_secret=svc.settings.slack.signing_secret or "",
        request_verification_enabled=not socket_mode,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="slack"),
        logger=bolt_log,
    )

    seen = _SeenRequests()

    @app.middleware
    def skip_retries(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:  # noqa: A002 - Bolt's name
        first = seen.first_time(_request_key(req))
        if not first and req.headers.get("x-slack-retry-num"):
            log.info(
                "Slack retried a request already handled (retry %s): not acting twice",
                req.headers.get("x-slack-retry-num", ["?"])[0],
            )
            return BoltResponse(
                status=200, body=""
            )  # `resp` may be None here: Bolt's own middleware passes none on
        return next()

    @app.command("/spyglass")
    def spyglass_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        caller = Caller(
            team_id=str(command.get("team_id", "")),
            channel_id=str(command.get("channel_id", "")),
            user_id=str(command.get("user_id", "")),
            user_name=str(command.get("user_name", "")),
        )
        text = str(command.get("text") or "")
        # Acknowledge first, whatever the database is doing: Slack shows the user an error after 3 s
        # and does not wait to learn whether the change happened. The answer follows through respond().
        ack()
        try:
            message = handle(
                svc,
                caller,
                text,
                channel_check=partial(channel_problem, client),
                is_admin=partial(workspace_admin, client),
                user_zone=partial(user_zone, client),
                upload=partial(upload_chart, client),
            ).message
        except Exception:
            log.exception("command failed: %r", text[:200])
            message = {
                "text": "Sorry, something went wrong on our side. Please try again.",
                "response_type": "ephemeral",
            }
        try:
            respond(**message)
        except Exception as e:  # the change (if any) is made; the user just does not see the answer
            log.warning("could not answer /spyglass %s through its response_url: %s", text[:40], e)

    # Link buttons ("Read story", "Open") still send Slack an interaction; acknowledge it so Slack
    # does not show the user a warning. The browser has already opened the link.
    @app.action(re.compile(r"^(read_story|open_hit_\d+)$"))
    def link_button(ack: Ack) -> None:
        ack()

    # Events a manifest with channel events sends; acknowledged so Slack does not see 404s and back off.
    @app.event("member_joined_channel")
    def quiet_event(ack: Ack) -> None:
        ack()

    register_interactions(app, svc)  # feedback, more like this, sharing, the Home tab

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in Slack listener: %s", error)

    return app
