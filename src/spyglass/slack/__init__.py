"""The Slack app: Bolt wiring (app.py) over plain command handling (commands.py)."""
