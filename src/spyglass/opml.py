"""`spyglass feeds import FILE.opml` and `spyglass feeds export`: subscription lists in and out.

Import reads any OPML a feed reader exports (nested folders included; listparser folds an entry
repeated in the file into one) with listparser, checks
each feed the way `/spyglass feed add` does (fetched once through the address guard, parsed,
web pages followed to their feed), and adds the good ones as sources of origin "opml"; it reports
duplicates and broken entries by name and never stops at one. Export writes OPML 2.0 that Feedly,
Thunderbird and NetNewsWire read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import listparser
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, select

from spyglass.clock import now_utc
from spyglass.defaults import MAX_SOURCE_NAME
from spyglass.errors import SourceRefused, UserError
from spyglass.service import Services
from spyglass.sources.check import check_feed
from spyglass.sources.state import add_source, feed_name
from spyglass.store.schema import Source
from spyglass.urls import redact_url

MAX_OPML_BYTES = 5 * 2**20


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (entry, why)


def read_opml(path: Path) -> list[tuple[str, str]]:
    """(title, xmlUrl) of every feed in the file, in order, folders flattened."""
    try:
        data = path.read_bytes()[: MAX_OPML_BYTES + 1]
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > MAX_OPML_BYTES:
        raise UserError(f"{path} is larger than {MAX_OPML_BYTES // 2**20} MiB; is it really a list of feeds?")
    parsed = listparser.parse(data)  # bytes: listparser never fetches anything itself
    if not parsed.feeds:
        why = f": {parsed.bozo_exception}" if parsed.bozo else ""
        raise UserError(f"{path} holds no feeds (an OPML file lists them as <outline xmlUrl=…>){why}")
    return [(str(f.get("title") or "").strip(), str(f.get("url") or "").strip()) for f in parsed.feeds]


def import_opml(svc: Services, path: Path, stream: TextIO) -> ImportReport:
    entries = read_opml(path)
    report = ImportReport()
    with svc.store.read() as s:
        known = {u for row in s.execute(select(Source.url, Source.location)) for u in row if u}
    known |= {c.url for c in svc.settings.sources if c.url}
    with Progress(console=Console(file=stream), transient=True) as progress:
        task = progress.add_task("checking feeds", total=len(entries))
        for title, url in entries:
            progress.update(task, advance=1, description=f"checking {title[:40] or url[:40]}")
            label = title or url or "(an entry without a URL)"
            if not url:
                report.refused.append((label, "no xmlUrl: a folder or a note, not a feed"))
                continue
            if url in known:  # no need to fetch it to know
                report.duplicates.append(label)
                continue
            try:
                checked = check_feed(svc.settings, url)
            except SourceRefused as e:
                report.refused.append((label, str(e)))
                continue
            if checked.url in known:  # a page whose feed is already a source
                report.duplicates.append(label)
                continue
            known |= {url, checked.url}
            report.added.append(_add(svc, title or checked.title, checked.url))
    return report


def _add(svc: Services, title: str, url: str) -> str:
    base = feed_name("", title, url)
    with svc.store.session() as s:
        taken = {n.lower() for n in s.scalars(select(func.lower(Source.name)))}
        taken |= {c.name.lower() for c in svc.settings.sources}
        name, n = base, 2
        while name.lower() in taken:  # two feeds called "News": "News (2)"
            name, n = f"{base[: MAX_SOURCE_NAME - 6]} ({n})", n + 1
        add_source(s, name, url, origin="opml", added_by="opml")
    return name


def export_opml(svc: Services) -> str:
    """OPML 2.0 with every feed source (folders and feed files have no URL to share)."""
    with svc.store.read() as s:
        added = list(
            s.execute(
                select(Source.name, Source.url).where(Source.origin != "config", Source.url.is_not(None))
            )
        )
    configured = {c.name for c in svc.settings.sources}
    feeds = [(c.name, redact_url(c.url)) for c in svc.settings.sources if c.url]
    feeds += [(name, url) for name, url in added if name not in configured and url]
    opml = ET.Element("opml", version="2.0")
    head = ET.SubElement(opml, "head")
    ET.SubElement(head, "title").text = "Spyglass sources"
    ET.SubElement(head, "dateCreated").text = now_utc().strftime("%a, %d %b %Y %H:%M:%S GMT")
    body = ET.SubElement(opml, "body")
    for name, url in feeds:
        ET.SubElement(body, "outline", type="rss", text=name, title=name, xmlUrl=url)
    ET.indent(opml)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(opml, encoding="unicode") + "\n"
