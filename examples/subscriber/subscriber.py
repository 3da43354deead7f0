"""Keep the current view of every TellWell story from the topic ``story.scored`` (docs/subscribing.md).

    python examples/subscriber/subscriber.py --bootstrap kafka:9092              # follow for ever
    python examples/subscriber/subscriber.py --bootstrap kafka:9092 --until-caught-up

Needs only ``aiokafka``. The topic is log-compacted, so reading it from offset 0 yields the latest
view of every story; the state lives in memory and is rebuilt that way at every start (no
consumer group, no committed offsets).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer


class Stories:
    """The newest view per story id; stories absorbed by a merge point at the one that absorbed them."""

    def __init__(self) -> None:
        self.views: dict[str, dict[str, Any]] = {}  # live stories
        self.merged_into: dict[str, str] = {}  # absorbed story id -> surviving story id
        self.versions: dict[str, int] = {}  # newest version applied, live or absorbed
        self.skipped = 0  # stale versions, unknown types, undecodable messages

    def apply(self, key: bytes | None, value: bytes | None) -> str | None:
        """Apply one record; return the id of the story it changed. Older versions change nothing."""
        if value is None:  # a tombstone: the story is gone for good
            story_id = (key or b"").decode(errors="replace")
            for table in (self.views, self.merged_into, self.versions):
                table.pop(story_id, None)
            return story_id
        try:
            event = json.loads(value)
            story_id, version = str(event["story_id"]), int(event["version"])
        except (ValueError, KeyError, TypeError):
            self.skipped += 1  # never let one bad message stop the stream
            return None
        if event.get("type") != "story.scored" or version <= self.versions.get(story_id, 0):
            self.skipped += 1  # a redelivery or an older version: we already have newer
            return None
        self.versions[story_id] = version
        if event.get("merged_into"):
            self.views.pop(story_id, None)
            self.merged_into[story_id] = str(event["merged_into"])
        else:
            self.views[story_id] = event
            self.merged_into.pop(story_id, None)
        return story_id

    def resolve(self, story_id: str) -> dict[str, Any] | None:
        """The live view for an id, following merges (a link you saved may name an absorbed story)."""
        seen: set[str] = set()
        while story_id in self.merged_into and story_id not in seen:
            seen.add(story_id)
            story_id = self.merged_into[story_id]
        return self.views.get(story_id)


async def run(
    bootstrap: str,
    stories: Stories,
    topic: str = "story.scored",
    until_caught_up: bool = False,
    on_change: Callable[[str], None] | None = None,
) -> None:
    """Read ``topic`` from the beginning into ``stories``; return once caught up, if asked to."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    changed = stories.apply(record.key, record.value)
                    if changed and on_change:
                        on_change(changed)
            assigned = consumer.assignment()
            if until_caught_up and assigned:
                ends = await consumer.end_offsets(list(assigned))
                positions = {tp: await consumer.position(tp) for tp in ends}
                if all(positions[tp] >= end for tp, end in ends.items()):
                    return
    finally:
        await consumer.stop()


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="story.scored")
    parser.add_argument("--until-caught-up", action="store_true", help="exit at the end of the topic")
    args = parser.parse_args()
    stories = Stories()

    def show(story_id: str) -> None:
        view = stories.resolve(story_id) or {"story_id": story_id}
        line = {k: view.get(k) for k in ("story_id", "version", "title", "source_count")}
        emit({"changed": story_id, **line, "confidence": view.get("confidence", {}).get("value")})

    asyncio.run(run(args.bootstrap, stories, args.topic, args.until_caught_up, on_change=show))
    emit({"live": len(stories.views), "merged": len(stories.merged_into), "skipped": stories.skipped})


if __name__ == "__main__":
    main()
