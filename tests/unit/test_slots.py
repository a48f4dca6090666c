"""tracker/slots.py: the database slots, shared by coroutines of several event loops."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from minitorrent.tracker.slots import Slots


def test_at_most_count_holders_and_first_come_first_served() -> None:
    slots = Slots(2)
    inside = 0
    most = 0
    order: list[int] = []

    async def hold(n: int) -> None:
        nonlocal inside, most
        async with slots:
            order.append(n)
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)  # the others queue meanwhile
            inside -= 1

    async def main() -> None:
        await asyncio.gather(*(hold(n) for n in range(6)))

    asyncio.run(main())
    assert most == 2 and order == list(range(6))


@pytest.mark.timeout(30)
def test_a_slot_released_in_one_loop_wakes_a_waiter_of_another() -> None:
    slots = Slots(1)
    held = threading.Event()
    got_it = threading.Event()

    async def holder() -> None:
        async with slots:
            held.set()
            deadline = time.monotonic() + 20
            while not slots.waiting:  # until the other loop is parked on its future
                assert time.monotonic() < deadline, "the other loop never asked for the slot"
                await asyncio.sleep(0.001)

    async def waiter() -> None:
        held.wait()
        async with slots:
            got_it.set()

    other = threading.Thread(target=asyncio.run, args=(waiter(),))
    other.start()
    asyncio.run(holder())
    other.join(20)
    assert got_it.is_set() and not other.is_alive()


def test_a_cancelled_waiter_does_not_lose_the_slot() -> None:
    slots = Slots(1)

    async def main() -> None:
        await slots.__aenter__()
        cancelled = asyncio.create_task(slots.__aenter__())
        queued = asyncio.create_task(slots.__aenter__())
        await asyncio.sleep(0)
        slots.release()  # handed to `cancelled`...
        cancelled.cancel()  # ...which gives it up before it runs
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await asyncio.wait_for(queued, 5)  # so the next waiter gets it
        slots.release()
        async with slots:  # and the count is whole again
            pass

    asyncio.run(main())
