"""Long-running modes: `serve` (Slack HTTP or Socket Mode), `run`/`worker` (scheduler + delivery).

SIGTERM (what Procfile hosts send) stops taking new work, lets the message in flight finish, and
exits cleanly.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from spyglass.config import Settings
from spyglass.defaults import SOCKET_PING
from spyglass.delivery.posters import make_poster
from spyglass.delivery.slack_poster import slack_client
from spyglass.errors import CredentialsError, SocketModeError, UserError

if TYPE_CHECKING:
    from spyglass.service import Services

log = logging.getLogger(__name__)


def _check_credentials(settings: Settings, *, http: bool) -> WebClient:
    sc = settings.slack
    if not sc.bot_token:
        raise CredentialsError(
            "SLACK_BOT_TOKEN is not set (the bot token, xoxb-…, from your Slack app's OAuth page)"
        )
    if not sc.bot_token.startswith("xoxb-"):
        raise CredentialsError("SLACK_BOT_TOKEN does not look like a bot token (it should start with xoxb-)")
    if http and not sc.signing_secret:
        raise CredentialsError(
            "SLACK_SIGNING_SECRET is not set (Basic Information → App Credentials → Signing Secret)"
        )
    if sc.app_token and not sc.app_token.startswith("xapp-"):
        raise CredentialsError(
            "SLACK_APP_TOKEN does not look like an app-level token (it should start with xapp-)"
        )
    client = slack_client(sc.bot_token, sc.api_url)
    try:
        client.auth_test()
    except SlackApiError as e:
        raise CredentialsError(
            f"Slack rejected SLACK_BOT_TOKEN: {e.response.get('error', 'unknown error')}"
        ) from None
    except Exception as e:
        raise CredentialsError(f"cannot reach the Slack API at {sc.api_url}: {type(e).__name__}") from None
    return client


def _install_stop_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s: finishing the message in flight, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _start_slack(settings: Settings, svc: Services, port: int, stop: threading.Event) -> Any:
    """Start the Slack side in background threads; return an object with close()."""
    from spyglass.slack.app import build_app

    use_socket = bool(settings.slack.app_token)
    client = _check_credentials(settings, http=not use_socket)
    if use_socket:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        app = build_app(svc, client, socket_mode=True)
        handler = SocketModeHandler(app, settings.slack.app_token, ping_interval=SOCKET_PING)
        _connect_socket(handler, settings.slack.api_url)
        log.info("connected to Slack in Socket Mode")
        return handler
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from waitress.server import create_server

    app = build_app(svc, client)
    server = create_server(with_health(SlackRequestHandler(app), svc), host="0.0.0.0", port=port, threads=8)
    threading.Thread(target=server.run, name="http", daemon=True).start()
    log.info("serving Slack requests on http://0.0.0.0:%s/slack/events", port)
    return server


def with_health(slack: Any, svc: Services) -> Any:
    """`GET /healthz` for load balancers and Procfile hosts: 200 when the database answers, else 503.
    Every other request goes to Bolt."""
    from sqlalchemy import text

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != "/healthz":
            return slack(environ, start_response)
        try:
            with svc.store.read() as s:
                s.execute(text("SELECT 1"))
            status, body = "200 OK", b"ok\n"
        except Exception as e:  # noqa: BLE001 - any failure means "do not send traffic here"
            status, body = "503 Service Unavailable", f"database unavailable: {type(e).__name__}\n".encode()
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return wsgi


def _connect_socket(handler: Any, api_url: str) -> None:
    """Open the Socket Mode connection, or say in one line why not (the SDK logs and carries on)."""
    errors: list[Exception] = []
    handler.client.on_error_listeners.append(errors.append)
    sdk_log = handler.client.logger
    level = sdk_log.level
    sdk_log.setLevel(logging.CRITICAL)  # it logs each failure at length; the user gets our one line instead
    try:
        handler.connect()
    except SlackApiError as e:
        raise CredentialsError(
            f"Slack rejected SLACK_APP_TOKEN: {e.response.get('error', 'unknown error')} (it should be an "
            "app-level token with the connections:write scope: Basic Information → App-Level Tokens)"
        ) from None
    except Exception as e:
        raise SocketModeError(
            f"cannot reach Slack at {api_url} to open a Socket Mode connection: {_why(e)}"
        ) from None
    finally:
        handler.client.on_error_listeners.remove(errors.append)
        sdk_log.setLevel(level)
    if not handler.client.is_connected():
        why = _why(errors[-1]) if errors else "the websocket did not open"
        host = urlsplit(handler.client.wss_uri or "").netloc or "?"  # not the URL: its ticket is a credential
        raise SocketModeError(f"cannot open Slack's Socket Mode websocket at {host}: {why}")


def _why(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e) or type(e).__name__
    return str(reason)


def _start_slack_or_explain(settings: Settings, svc: Services, port: int, stop: threading.Event) -> Any:
    """_start_slack, with credential and port problems turned into one-line user errors."""

    try:
        return _start_slack(settings, svc, port, stop)
    except (CredentialsError, SocketModeError) as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"cannot listen on port {port}: {e.strerror}") from None


def serve(settings: Settings, port: int | None) -> int:
    from spyglass.service import build_services

    stop = threading.Event()
    _install_stop_handlers(stop)
    svc = build_services(settings)
    server = _start_slack_or_explain(settings, svc, port or settings.port, stop)
    stop.wait()
    server.close()
    return 0


def run(settings: Settings, *, serve_http: bool, port: int | None) -> int:
    from spyglass.scheduler import Worker
    from spyglass.service import build_services

    stop = threading.Event()
    _install_stop_handlers(
        stop
    )  # before the (possibly slow) start-up, so an early SIGTERM still exits cleanly
    svc = build_services(settings)
    server = None
    if settings.slack.bot_token and (serve_http or settings.slack.app_token):
        server = _start_slack_or_explain(settings, svc, port or settings.port, stop)
    elif not settings.slack.bot_token:
        log.info("SLACK_BOT_TOKEN is not set: alerts are printed here instead of posted to Slack")
    worker = Worker(svc, make_poster(settings), stop=stop)
    worker.start()
    stop.wait()
    worker.shutdown()
    if server is not None:
        server.close()
    return 0
