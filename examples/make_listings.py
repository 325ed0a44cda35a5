"""Build examples/listings/day{1,2}.xml (RSS 2.0) from the seed listings JSONL.

Usage: python examples/make_listings.py [path/to/seed_listings.jsonl [output folder]]

The seed papers carry no ids, so each gets a stable guid derived from its normalised title
(the same paper on both days gets the same guid) and a link to arXiv's title search.
"""

from __future__ import annotations

import json
import sys
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

from digest.ids import title_key

HERE = Path(__file__).resolve().parent
DEFAULT_SEED = HERE.parent / "bench" / "data" / "seed_listings.jsonl"  # a copy ships in the repo
DAYS = {"day1": datetime(2025, 9, 15, 4, tzinfo=timezone.utc)}
DAYS["day2"] = DAYS["day1"] + timedelta(days=1)


def build(rows: list[dict[str, str]], listing: str) -> bytes:
    when = format_datetime(DAYS[listing])
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = f"Trending papers ({listing})"
    ET.SubElement(channel, "link").text = "https://example.org/trending"
    ET.SubElement(channel, "description").text = "Sample listing bundled with Paper Digest"
    ET.SubElement(channel, "pubDate").text = when
    for row in rows:
        if row["listing"] != listing:
            continue
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = row["title"]
        query = urlencode({"query": row["title"], "searchtype": "title"})
        ET.SubElement(item, "link").text = f"https://arxiv.org/search/?{query}"
        ET.SubElement(item, "description").text = row["abstract"]
        guid = ET.SubElement(item, "guid", isPermaLink="false")
        guid.text = f"urn:paper-digest:seed:{title_key(row['title'])}"
        ET.SubElement(item, "pubDate").text = when
    ET.indent(rss)
    return b"<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(rss, encoding="utf-8") + b"\n"


def main() -> None:
    seed = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SEED
    rows = [json.loads(line) for line in seed.read_text(encoding="utf-8").splitlines() if line]
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "listings"
    out.mkdir(parents=True, exist_ok=True)
    for listing in DAYS:
        (out / f"{listing}.xml").write_bytes(build(rows, listing))
        print(out / f"{listing}.xml")


if __name__ == "__main__":
    main()
