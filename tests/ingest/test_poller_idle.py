"""An idle feed poller looks for due feeds ever less often, and starts again at once when busy."""

import asyncio
import random

from tellwell.ingest.feeds import Poller
from tellwell.ingest.settings import Settings


def poller(**settings) -> Poller:
    p = Poller(None, None, None, Settings(poll_tick_s=2.0, poll_idle_max_s=15.0, **settings))  # type: ignore[arg-type]
    p.rng = random.Random(7)
    return p


def test_the_wait_doubles_up_to_the_cap_with_jitter():
    p = poller()
    waits = [p.idle_wait_s(n) for n in range(1, 8)]
    bases = [2.0, 4.0, 8.0, 15.0, 15.0, 15.0, 15.0]
    for wait, base in zip(waits, bases, strict=True):
        assert 0.5 * base <= wait <= 1.5 * base
    assert sum(waits) > 40  # eight workers idle for a minute: a few looks each, not thirty


async def test_a_poll_that_finds_work_starts_the_back_off_again():
    """The worker's looks, scripted: three empty, one due feed, two empty."""
    script = [False, False, False, True, False, False]
    looks_before_each_wait: list[int] = []
    stop = asyncio.Event()

    class Scripted(Poller):
        async def poll_next(self) -> bool:
            found = script.pop(0)
            if not script:
                stop.set()
            return found

        def idle_wait_s(self, empty_looks: int) -> float:
            looks_before_each_wait.append(empty_looks)
            return 0.0

    await Scripted(None, None, None, Settings()).run_worker(stop)  # type: ignore[arg-type]
    assert looks_before_each_wait == [1, 2, 3, 1, 2]
