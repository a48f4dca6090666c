"""Who sent bad data: blame for pieces that failed their hash check, by evidence only.

A piece whose blocks came from several peers and failed its check says that one of
them lied, not which one: blaming all of them lets two poisoners get an honest seeder
banned. So the swarm fetches such a piece again from one peer alone, and:

* a piece whose every block came from one peer and failed convicts that peer;
* when the piece then verifies, each block of the earlier failed copies is compared,
  by a short digest, with the good copy: exactly the peers whose blocks differ lied.

A peer is a :data:`Source`, its peer id and address. The tracker does not tell a peer
which member runs which peer id, so the peers of one address are grouped: a member
announcing many peer ids from one address cannot launder suspicion through fresh ids
when the swarm chooses whom to ask for a re-fetch. Bans still fall on the peer ids that
sent bad data only: an address may be shared (NAT, one machine) with honest members.

Pure: no I/O, no clock. Memory is bounded: at most ``max_pieces`` pieces under
suspicion, ``max_attempts`` failed copies each, 8 bytes of digest per block.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["DIGEST_SIZE", "Blame", "Source", "block_digests"]

Source = tuple[bytes, str]  # peer id, address
DIGEST_SIZE = 8  # a liar would need a 64-bit BLAKE2b collision with the good block
MAX_SUSPECT_PIECES = 256
MAX_ATTEMPTS = 4

_Attempt = list[tuple[Source, bytes]]  # per block: who sent it, digest of what was sent


def block_digests(piece: bytes | memoryview, block_size: int) -> list[bytes]:
    """A short digest of each block of a piece's data."""
    view = memoryview(piece)
    return [
        hashlib.blake2b(view[i : i + block_size], digest_size=DIGEST_SIZE).digest()
        for i in range(0, len(view), block_size)
    ]


class Blame:
    """Failed copies of pieces, kept until a good copy says who sent which bad block."""

    def __init__(
        self, *, max_pieces: int = MAX_SUSPECT_PIECES, max_attempts: int = MAX_ATTEMPTS
    ) -> None:
        self._max_pieces = max_pieces
        self._max_attempts = max_attempts
        self._attempts: dict[int, list[_Attempt]] = {}  # oldest suspect piece first
        self._implicated: Counter[Source] = Counter()  # failed copies it sent blocks of
        self._convicted_at: Counter[str] = Counter()  # peers convicted, per address
        self._proven: set[Source] = set()  # sent a whole piece alone that verified
        self._stalled: Counter[Source] = Counter()  # re-fetches it let stall

    def piece_failed(self, index: int, blocks: Sequence[tuple[Source, bytes]]) -> set[Source]:
        """A copy of piece ``index`` failed: ``blocks`` holds, per block, its sender and
        digest. Returns the peers convicted by it (the sole sender, if there was one)."""
        senders = {source for source, _ in blocks}
        if len(senders) == 1:
            return self._convict(senders)
        attempts = self._attempts.pop(index, [])
        attempts.append(list(blocks))
        if len(attempts) > self._max_attempts:
            self._release(attempts.pop(0))
        self._attempts[index] = attempts  # re-inserted: the most recent suspect last
        self._implicated.update(senders)
        while len(self._attempts) > self._max_pieces:
            oldest = next(iter(self._attempts))
            for attempt in self._attempts.pop(oldest):
                self._release(attempt)
        return set()

    def piece_verified(
        self, index: int, digests: Sequence[bytes], sole: Source | None
    ) -> set[Source]:
        """Piece ``index`` verified with these block digests (``sole``: the one peer
        that sent all of it, if so). Returns the peers whose earlier blocks differed."""
        if sole is not None:
            self._proven.add(sole)
        guilty: set[Source] = set()
        for attempt in self._attempts.pop(index, []):
            guilty.update(
                source
                for (source, digest), good in zip(attempt, digests, strict=True)
                if digest != good
            )
            self._release(attempt)
        return self._convict(guilty)

    def suspect(self, index: int) -> bool:
        """Whether piece ``index`` failed and its culprit is not known yet."""
        return index in self._attempts

    def suspect_pieces(self) -> list[int]:
        return list(self._attempts)

    def stalled(self, source: Source) -> None:
        """``source`` was asked for a re-fetch and let it stall (choked us, sent nothing)."""
        if len(self._stalled) < self._max_pieces or source in self._stalled:
            self._stalled[source] += 1

    def rank(self, source: Source) -> tuple[int, int, int, int]:
        """Whom to ask first for a re-fetch (lowest first): peers that already delivered
        a good piece alone, then addresses with no convicted peer, then the peers that
        let the fewest re-fetches stall, then those implicated in the fewest failed copies."""
        return (
            source not in self._proven,
            self._convicted_at[source[1]],
            self._stalled[source],
            self._implicated[source],
        )

    def _convict(self, sources: Iterable[Source]) -> set[Source]:
        convicted = set(sources)
        for source in convicted:
            self._convicted_at[source[1]] += 1
            self._proven.discard(source)
        return convicted

    def _release(self, attempt: _Attempt) -> None:
        self._implicated.subtract({source for source, _ in attempt})
        self._implicated = +self._implicated  # drop zero counts: bounded by live suspects
