"""Who sent bad data: blame for pieces that failed their hash check, by evidence only.

A piece whose blocks came from several peers and failed its check says that one of
them lied, not which one: blaming all of them lets two poisoners get an honest seeder
banned. So the swarm fetches such a piece again from one peer alone, and:

* a piece whose every block came from one peer and failed convicts that peer;
* when the piece then verifies, each block of the earlier failed copies is compared,
  by a short digest, with the good copy: exactly the peers whose blocks differ lied.

A peer is a :data:`Source`, its peer id and the member running it (peer/members.py:
the user id the tracker gave, else its address). Blame keys by member: a member
announcing many peer ids counts as one, so every block any of them sent counts
against it, a conviction is the member's (the swarm bans all its peer ids), and a
re-fetch is never handed to another peer id of a member already implicated in that
piece (it could not tell on itself).

Pure: no I/O, no clock. Memory is bounded: at most ``max_pieces`` pieces under
suspicion, ``max_attempts`` failed copies each, 8 bytes of digest per block.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = ["DIGEST_SIZE", "Blame", "Source", "block_digests"]

Source = tuple[bytes, str]  # peer id, member
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
        # All per member:
        self._implicated: Counter[str] = Counter()  # failed copies it sent blocks of
        self._convicted: set[str] = set()
        self._proven: set[str] = set()  # sent a whole piece alone that verified
        self._stalled: Counter[str] = Counter()  # re-fetches it let stall

    def piece_failed(self, index: int, blocks: Sequence[tuple[Source, bytes]]) -> set[str]:
        """A copy of piece ``index`` failed: ``blocks`` holds, per block, its sender and
        digest. Returns the members convicted by it (the sole sender, if there was one)."""
        senders = {member for (_, member), _ in blocks}
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

    def piece_verified(self, index: int, digests: Sequence[bytes], sole: str | None) -> set[str]:
        """Piece ``index`` verified with these block digests (``sole``: the one member
        that sent all of it, if so). Returns the members whose earlier blocks differed."""
        if sole is not None:
            self._proven.add(sole)
        guilty: set[str] = set()
        for attempt in self._attempts.pop(index, []):
            guilty.update(
                member
                for ((_, member), digest), good in zip(attempt, digests, strict=True)
                if digest != good
            )
            self._release(attempt)
        return self._convict(guilty)

    def suspect(self, index: int) -> bool:
        """Whether piece ``index`` failed and its culprit is not known yet."""
        return index in self._attempts

    def suspect_pieces(self) -> list[int]:
        return list(self._attempts)

    def may_refetch(self, index: int, source: Source) -> bool:
        """Whether ``source`` may re-fetch piece ``index`` alone: not if another peer id
        of its member sent blocks of a failed copy (a member cannot clear itself)."""
        peer_id, member = source
        return not any(
            other_member == member and other_id != peer_id
            for attempt in self._attempts.get(index, [])
            for (other_id, other_member), _ in attempt
        )

    def stalled(self, source: Source) -> None:
        """``source`` was asked for a re-fetch and let it stall (choked us, sent nothing)."""
        member = source[1]
        if len(self._stalled) < self._max_pieces or member in self._stalled:
            self._stalled[member] += 1

    def rank(self, source: Source) -> tuple[bool, bool, int, int]:
        """Whom to ask first for a re-fetch (lowest first): members that already
        delivered a good piece alone, then those not convicted, then those that let the
        fewest re-fetches stall, then those implicated in the fewest failed copies."""
        member = source[1]
        return (
            member not in self._proven,
            member in self._convicted,
            self._stalled[member],
            self._implicated[member],
        )

    def _convict(self, members: Iterable[str]) -> set[str]:
        convicted = set(members)
        self._convicted |= convicted  # bounded: the swarm bans them, they send no more
        self._proven -= convicted
        return convicted

    def _release(self, attempt: _Attempt) -> None:
        self._implicated.subtract({member for (_, member), _ in attempt})
        self._implicated = +self._implicated  # drop zero counts: bounded by live suspects
