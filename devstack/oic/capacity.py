"""The OIC stand-in's capacity model: how many trigger requests it serves at once, and what happens beyond that.

Oracle Integration 3 documents 100 concurrent synchronous requests per message pack (400 per BYOL pack), at most
2,000 per instance, and a 429 beyond them ("Message Pack Usage and Synchronous/Asynchronous Requests"). The stand-in
takes its cap from the fault settings (devstack/oic/faults.py: `max_concurrency`, or `message_packs` with `byol`) and
either refuses the requests above it at once (429, with a Retry-After only when `retry_after` is not null) or, with
`over_capacity: "queue"`, makes them wait in arrival order for a free slot (a backend that slows down instead of
refusing). The settings change while the stand-in runs (PUT/PATCH /admin/faults), so a benchmark can halve a cap and
restore it; a raised cap admits waiting requests at once.

The gate lives on the stand-in's single event loop, so its counters need no lock.
"""

import asyncio
import collections
from typing import Any, Deque, Dict, Mapping

PACK_SLOTS = 100        # concurrent synchronous requests per message pack
BYOL_PACK_SLOTS = 400   # per bring-your-own-licence pack
INSTANCE_MAX = 2000     # per OIC instance, whatever the packs


def cap_of(settings: Mapping[str, Any]) -> int:
    """The concurrency cap the settings describe; 0 = unlimited. `max_concurrency` wins when set, else packs."""
    if settings.get('max_concurrency'):
        return int(settings['max_concurrency'])
    packs = int(settings.get('message_packs') or 0)
    if not packs:
        return 0
    return min(INSTANCE_MAX, packs * (BYOL_PACK_SLOTS if settings.get('byol') else PACK_SLOTS))


class CapacityGate:
    """Slots for trigger requests. enter() takes one (or says no, or waits); leave() gives it back."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.queued = 0
        self._waiters: Deque[asyncio.Future] = collections.deque()
        self.reset_counters()

    def reset_counters(self) -> None:
        """Peaks start again from the present; what is in flight or waiting now stays counted."""
        self.max_in_flight = self.in_flight
        self.max_queued = self.queued
        self.refused = 0           # 429s answered because the cap was reached
        self.waited = 0            # requests that had to queue for a slot
        self.queue_wait_s = 0.0    # the time they spent waiting, summed (a benchmark's mean RTT over the service time)

    async def enter(self, cap: int, queue: bool) -> bool:
        """Takes a slot: True when the request may run, False when it is refused (the cap is reached, no queueing)."""
        if not cap or (self.in_flight < cap and not self._waiters):
            self._take()
            return True
        if not queue:
            self.refused += 1
            return False
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        since = loop.time()
        self._waiters.append(waiter)
        self.queued += 1
        self.waited += 1
        self.max_queued = max(self.max_queued, self.queued)
        try:
            await waiter  # wake() hands the slot over: in_flight already counts this request
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.leave(cap)  # the slot arrived as the request was cancelled: pass it on
            elif waiter in self._waiters:  # still waiting (wake() skips and uncounts it otherwise)
                self._waiters.remove(waiter)
                self.queued -= 1
            raise
        finally:
            self.queue_wait_s += loop.time() - since
        return True

    def leave(self, cap: int) -> None:
        """Gives a slot back and admits the next waiting request if the (current) cap allows."""
        self.in_flight -= 1
        self.wake(cap)

    def wake(self, cap: int) -> None:
        """Admits waiting requests while there is room under cap (call it after the cap was raised)."""
        while self._waiters and (not cap or self.in_flight < cap):
            waiter = self._waiters.popleft()
            self.queued -= 1
            if waiter.done():
                continue
            self._take()
            waiter.set_result(None)

    def _take(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def as_json(self) -> Dict[str, int]:
        return {'in_flight': self.in_flight, 'max_in_flight': self.max_in_flight, 'queued': self.queued,
                'max_queued': self.max_queued, 'refused_over_capacity': self.refused, 'waited_for_capacity': self.waited,
                'queue_wait_s': round(self.queue_wait_s, 6)}
