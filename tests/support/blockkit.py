"""An oracle for Slack's Block Kit limits, written from Slack's reference
(https://api.slack.com/reference/block-kit/blocks), for the tests: the product builds its messages
with the SDK's typed blocks, so the tests judge them with this, not with the product's own code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_URL = 3000
MAX_ALT_TEXT = 2000
MAX_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_OVERFLOW_OPTIONS = 5
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150


def _check_text(obj: Any, where: str, limit: int, errors: list[str], kind: str | None = None) -> None:
    if not isinstance(obj, Mapping) or obj.get("type") not in ("mrkdwn", "plain_text"):
        errors.append(f"{where}: not a text object")
        return
    if kind and obj.get("type") != kind:
        errors.append(f"{where}: must be {kind}")
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        errors.append(f"{where}: empty text")
    elif len(text) > limit:
        errors.append(f"{where}: text length {len(text)} > {limit}")


def _check_element(el: Any, where: str, errors: list[str]) -> None:
    if not isinstance(el, Mapping):
        errors.append(f"{where}: not an object")
        return
    kind = el.get("type")
    if kind == "button":
        _check_text(el.get("text"), f"{where}.text", MAX_BUTTON_TEXT, errors, "plain_text")
        url = el.get("url")
        if url is not None and (not isinstance(url, str) or not url or len(url) > MAX_URL):
            errors.append(f"{where}.url: missing or longer than {MAX_URL}")
        if len(str(el.get("action_id", ""))) > MAX_ID:
            errors.append(f"{where}.action_id: longer than {MAX_ID}")
        if len(str(el.get("value", ""))) > MAX_BUTTON_VALUE:
            errors.append(f"{where}.value: longer than {MAX_BUTTON_VALUE}")
        if el.get("url") is None and not el.get("action_id"):
            errors.append(f"{where}: a button without a url needs an action_id to be answered")
    elif kind == "overflow":
        options = el.get("options") or []
        if not 1 <= len(options) <= MAX_OVERFLOW_OPTIONS:
            errors.append(f"{where}.options: {len(options)} not in 1..{MAX_OVERFLOW_OPTIONS}")
        for j, opt in enumerate(options):
            _check_text(opt.get("text"), f"{where}.options[{j}].text", MAX_OPTION_TEXT, errors, "plain_text")
            if not 1 <= len(str(opt.get("value", ""))) <= MAX_OPTION_VALUE:
                errors.append(f"{where}.options[{j}].value: not 1..{MAX_OPTION_VALUE} characters")
    elif kind == "image":
        url = el.get("image_url")
        if not isinstance(url, str) or not url or len(url) > MAX_URL:
            errors.append(f"{where}.image_url: missing or longer than {MAX_URL}")
        alt = el.get("alt_text")
        if not isinstance(alt, str) or not alt or len(alt) > MAX_ALT_TEXT:
            errors.append(f"{where}.alt_text: missing or longer than {MAX_ALT_TEXT}")
    elif kind in ("mrkdwn", "plain_text"):
        _check_text(el, where, MAX_SECTION_TEXT, errors)
    else:
        errors.append(f"{where}: unsupported element type {kind!r}")


def _check_section(block: Mapping[str, Any], where: str, errors: list[str]) -> None:
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        errors.append(f"{where}: section needs text or fields")
    if text is not None:
        _check_text(text, f"{where}.text", MAX_SECTION_TEXT, errors)
    if fields is not None:
        if len(fields) > MAX_FIELDS:
            errors.append(f"{where}.fields: {len(fields)} > {MAX_FIELDS}")
        for j, field in enumerate(fields):
            _check_text(field, f"{where}.fields[{j}]", MAX_FIELD_TEXT, errors)
    if block.get("accessory") is not None:
        _check_element(block["accessory"], f"{where}.accessory", errors)


def _check_elements(block: Mapping[str, Any], where: str, most: int, errors: list[str]) -> None:
    elements = block.get("elements") or []
    if not 1 <= len(elements) <= most:
        errors.append(f"{where}.elements: {len(elements)} not in 1..{most}")
    for j, el in enumerate(elements):
        _check_element(el, f"{where}.elements[{j}]", errors)


def _check_block_id(block: Mapping[str, Any], where: str, ids: set[str], errors: list[str]) -> None:
    block_id = block.get("block_id")
    if block_id is None:
        return
    if len(str(block_id)) > MAX_ID:
        errors.append(f"{where}.block_id: longer than {MAX_ID}")
    if block_id in ids:
        errors.append(f"{where}.block_id: duplicate {block_id!r}")
    ids.add(str(block_id))


def block_kit_problems(blocks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every Block Kit limit the given blocks violate (empty list when the message is postable)."""
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"blocks: {len(blocks)} > {MAX_BLOCKS}")
    ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(block, Mapping):
            errors.append(f"{where}: not an object")
            continue
        _check_block_id(block, where, ids, errors)
        kind = block.get("type")
        if kind == "header":
            _check_text(block.get("text"), f"{where}.text", MAX_HEADER, errors, "plain_text")
        elif kind == "section":
            _check_section(block, where, errors)
        elif kind == "context":
            _check_elements(block, where, MAX_CONTEXT_ELEMENTS, errors)
        elif kind == "actions":
            _check_elements(block, where, MAX_ACTION_ELEMENTS, errors)
        elif kind == "image":
            _check_element(block, where, errors)
        elif kind != "divider":
            errors.append(f"{where}: unsupported block type {kind!r}")
    return errors
