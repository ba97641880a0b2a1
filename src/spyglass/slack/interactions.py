"""What people do with Spyglass's messages: rate an alert (👍 / 👎 / wrong topic), ask for more like
it, share a private search with the channel. Each is acknowledged at once (Slack's 3 s), then
answered: a rating updates the alert in place (chat.update) with the tally; a search answers
privately through the action's response_url.

Button values name a delivery row; the row must belong to the channel the click came from, so a
value copied elsewhere rates nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from spyglass.delivery.blocks import (
    ALERT_MENU,
    FEEDBACK_BLOCK,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    SHARE_SEARCH,
    feedback_note,
)
from spyglass.delivery.mrkdwn import mention
from spyglass.feedback import NotAnAlert, rate
from spyglass.service import Services
from spyglass.slack.commands import HELP
from spyglass.slack.home import HOME_HELP, HOME_REFRESH, publish_home
from spyglass.slack.related import more_like_this, shared_search
from spyglass.store.db import StoreBusy

log = logging.getLogger(__name__)


def _ids(body: dict[str, Any]) -> tuple[str, str, str]:
    """(user, channel, message ts) of a block_actions payload ("" where absent)."""
    user = str((body.get("user") or {}).get("id") or "")
    channel = str(
        (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    )
    ts = str((body.get("message") or {}).get("ts") or (body.get("container") or {}).get("message_ts") or "")
    return user, channel, ts


def _acknowledge(client: WebClient, body: dict[str, Any], note: dict[str, Any]) -> None:
    """The alert again, with its feedback line replaced by ``note`` (chat.update: in place)."""
    user, channel, ts = _ids(body)
    message = body.get("message") or {}
    blocks = [b for b in message.get("blocks") or [] if b.get("block_id") != FEEDBACK_BLOCK]
    blocks.append(note)
    try:
        client.chat_update(channel=channel, ts=ts, text=str(message.get("text") or ""), blocks=blocks[:50])
    except Exception as e:  # noqa: BLE001 - the rating is stored; only the acknowledgement is lost
        log.warning("could not update the rated alert in %s: %s", channel, e)


def _rate(
    svc: Services,
    client: WebClient,
    body: dict[str, Any],
    respond: Respond,
    value: int,
    wrong: int | None,
    did: str,
) -> None:
    user, channel, _ = _ids(body)
    if not did.isdigit() or not mention(user):
        return
    try:
        t = rate(svc.store, int(did), channel, user, value, wrong)
    except NotAnAlert:
        respond(
            text="That alert is no longer in Spyglass's history, so it cannot be rated.",
            response_type="ephemeral",
            replace_original=False,
        )
        return
    except StoreBusy:
        respond(
            text="Spyglass's database is busy; your rating was not saved. Please try again.",
            response_type="ephemeral",
            replace_original=False,
        )
        return
    _acknowledge(client, body, feedback_note(t.up, t.down, t.wrong, user))


def _publish(svc: Services, client: WebClient, user: str) -> None:
    try:
        publish_home(svc, client, user)
    except Exception:  # noqa: BLE001 - a Home tab that cannot be drawn must not break the app
        log.exception("could not publish the Home tab for %s", user)


def register(app: App, svc: Services) -> None:
    @app.event("app_home_opened")
    def home_opened(ack: Ack, event: dict[str, Any], client: WebClient) -> None:
        ack()
        user = str(event.get("user") or "")
        if event.get("tab", "home") == "home" and mention(user):
            _publish(svc, client, user)

    @app.action(HOME_REFRESH)
    def home_refresh(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user, _, _ = _ids(body)
        if mention(user):
            _publish(svc, client, user)

    @app.action(HOME_HELP)
    def home_help(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user, _, _ = _ids(body)
        if mention(user):  # the Messages tab: the help where the person can keep it
            client.chat_postMessage(channel=user, text=HELP, unfurl_links=False, unfurl_media=False)

    @app.action(FEEDBACK_UP)
    @app.action(FEEDBACK_DOWN)
    def feedback(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        action = (body.get("actions") or [{}])[0]
        value = 1 if action.get("action_id") == FEEDBACK_UP else -1
        _rate(svc, client, body, respond, value, None, str(action.get("value") or ""))

    @app.action(ALERT_MENU)
    def menu(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        action = (body.get("actions") or [{}])[0]
        choice = str((action.get("selected_option") or {}).get("value") or "")
        kind, _, rest = choice.partition(":")
        if kind == "wrong":
            did, _, index = rest.partition(":")
            _rate(svc, client, body, respond, -1, int(index) if index.isdigit() else None, did)
        elif kind == "more" and rest.isdigit():
            _, channel, _ = _ids(body)
            respond(**more_like_this(svc, int(rest), channel), replace_original=False)

    @app.action(SHARE_SEARCH)
    def share(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user, channel, _ = _ids(body)
        action = (body.get("actions") or [{}])[0]
        message = shared_search(svc, str(action.get("value") or ""), user, channel)
        respond(**message, replace_original=False)
