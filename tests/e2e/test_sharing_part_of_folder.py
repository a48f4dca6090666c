"""Part of a shared folder (``download_file ... --only PATTERN``), end to end with real
tracker and client processes: only the chosen files are written, byte for byte; the
others are never created; the bytes of theirs in boundary pieces are kept in the parts
file beside the folder, so the partial seed serves those pieces too; a download killed
with SIGKILL resumes at the next login with the same selection, and is shared again."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from fastbencode import bdecode, bencode  # type: ignore[attr-defined]

from minitorrent.driver import Client, password_of
from minitorrent.metainfo import InfoDict

from .sharing_helpers import (
    KiB,
    MiB,
    download_line,
    frozen,
    peers,
    quote,
    wait_for,
    write_random,
)

MakeUsers = Callable[..., list[Client]]


def exported_info(client: Client, item: str, out: Path) -> InfoDict:
    """The info dictionary of a group's item, as a .torrent export gives it."""
    client.ok(f"export_torrent lab {quote(item)} {quote(out)}")
    return InfoDict.decode(bytes(bencode(bdecode(out.read_bytes())[b"info"])))


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def boundary_bytes(info: InfoDict, wanted: set[str]) -> list[tuple[str, int, int, int]]:
    """The bytes of unwanted files that lie in pieces overlapping a wanted file:
    (file, offset in the folder's stream, offset in the file, size) per piece."""
    plen = info.piece_length
    starts, offset = [], 0
    for entry in info.files:
        starts.append(offset)
        offset += entry.length
    pieces: set[int] = set()
    for entry, start in zip(info.files, starts, strict=True):
        if entry.relative in wanted and entry.length:
            pieces.update(range(start // plen, (start + entry.length - 1) // plen + 1))
    found = []
    for entry, start in zip(info.files, starts, strict=True):
        if entry.relative in wanted:
            continue
        for p in sorted(pieces):
            lo, hi = max(start, p * plen), min(start + entry.length, (p + 1) * plen)
            if lo < hi:
                found.append((entry.relative, lo, lo - start, hi - lo))
    return found


def test_only_the_chosen_files_are_written_and_served_again(
    make_users: MakeUsers, tmp_path: Path
) -> None:
    ann, ben, cat, dan = make_users("ann", "ben", "cat", "dan")
    src = tmp_path / "seed" / "lectures"
    data = {
        "readme.txt": write_random(src / "readme.txt", 100, seed=1),
        "week1/intro.bin": write_random(src / "week1" / "intro.bin", 300 * KiB + 7, seed=2),
        "week1/sub/deep.txt": write_random(src / "week1" / "sub" / "deep.txt", 3000, seed=3),
        "week2/a.bin": write_random(src / "week2" / "a.bin", 700 * KiB, seed=4),
        "week2/notes.pdf": write_random(src / "week2" / "notes.pdf", 40 * KiB + 3, seed=5),
        "week2/z.bin": write_random(src / "week2" / "z.bin", 500 * KiB, seed=6),
        "week3/slides.pdf": write_random(src / "week3" / "slides.pdf", 10 * KiB, seed=7),
        "week3/video.bin": write_random(src / "week3" / "video.bin", 900 * KiB, seed=8),
    }
    for seeder in (ann, ben):
        seeder.ok(f"upload_file {quote(src)} lab")
    info = exported_info(cat, "lectures", tmp_path / "lectures.torrent")
    wanted = {"week1/intro.bin", "week1/sub/deep.txt", "week2/notes.pdf", "week3/slides.pdf"}
    kept = boundary_bytes(info, wanted)
    assert kept, "the tree must have a piece shared by a wanted and an unwanted file"

    cat.fails(
        f"download_file lab lectures {quote(tmp_path)} --only 'week1/*' --only '*.doc'",
        r"^error: --only '\*\.doc' matches no file of the folder$",
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    assert cat.ok(f"download_file lab lectures {quote(inbox)} --only 'week1/*' --only '*.pdf'") == [
        f"downloading 'lectures' from 'lab' to {inbox / 'lectures'} (4 of 8 files)"
    ]
    assert cat.ok("wait", timeout=120) == ["1 download(s) complete"]
    got = inbox / "lectures"
    assert files_under(got) == wanted  # nothing else created
    for name in wanted:
        assert (got / name).read_bytes() == data[name], name
    assert download_line(cat, "lab", "lectures") == "[C] [lab] lectures (4 of 8 files)"
    # verify checks the chosen part only: pieces of files left out are not "bad".
    [verified] = cat.ok("verify lab lectures", timeout=60)
    assert verified.startswith(f"ok: {got} matches all ") and verified.endswith(
        "of 'lectures' (4 of 8 files)"
    ), verified
    # The unwanted bytes of the boundary pieces, kept beside the folder, not in it.
    parts = inbox / f".{info.info_hash_hex}.parts"
    assert sorted(p.name for p in inbox.iterdir()) == sorted(["lectures", parts.name])
    with parts.open("rb") as f:
        for name, offset, start, size in kept:
            f.seek(offset)
            assert f.read(size) == data[name][start : start + size], name

    # Cat is a partial seed: with the full seeds frozen, dan's PDFs (whose pieces hold
    # bytes of a.bin, z.bin and video.bin) come from cat alone.
    mine = tmp_path / "mine"
    with frozen(ann, ben):
        dan.ok(f"download_file lab lectures {quote(mine)} --only '*.pdf'")
        assert dan.ok("wait", timeout=120) == ["1 download(s) complete"]
    assert files_under(mine) == {"week2/notes.pdf", "week3/slides.pdf"}
    for name in ("week2/notes.pdf", "week3/slides.pdf"):
        assert (mine / name).read_bytes() == data[name]
    assert sum(p.down for p in peers(dan).values()) > 0
    cat.fails(
        f"download_file lab lectures {quote(tmp_path / 'again')} --only 'week9'",
        r"^error: --only 'week9' matches no file of the folder$",
    )


def test_only_on_a_single_file_is_refused(make_users: MakeUsers, tmp_path: Path) -> None:
    ann, bob = make_users("ann", "bob")
    write_random(tmp_path / "report.pdf", 10 * KiB)
    ann.ok(f"upload_file {quote(tmp_path / 'report.pdf')} lab")
    bob.fails(
        f"download_file lab report.pdf {quote(tmp_path / 'out.pdf')} --only '*.pdf'",
        r"^error: --only selects files inside a folder; 'report.pdf' is a single file$",
    )
    bob.fails(
        f"download_file lab report.pdf {quote(tmp_path / 'out.pdf')} --only",
        r"^error: --only needs a pattern; usage: download_file .*$",
    )
    assert not (tmp_path / "out.pdf").exists()
    assert not (tmp_path / "out.pdf.part").exists()


def _saved(state_db: Path) -> tuple[int, str | None]:
    """Verified pieces saved, and the saved selection, of the one download record."""
    if not state_db.exists():
        return 0, None
    with closing(sqlite3.connect(f"file:{state_db}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT have, only FROM downloads").fetchall()
    return (sum(rows[0][0]), rows[0][1]) if rows else (0, None)


def test_a_part_of_a_folder_killed_resumes_and_is_shared_again_with_its_selection(
    make_users: MakeUsers, make_client: Callable[..., Client], tmp_path: Path
) -> None:
    ann, dan = make_users("ann", "dan")
    src = tmp_path / "seed" / "data"
    head = write_random(src / "a.txt", 1000, seed=1)  # shares the first piece with big/
    big = write_random(src / "big" / "data.bin", 64 * MiB + 11, seed=2)
    write_random(src / "small" / "x.bin", 3 * MiB + 5, seed=3)
    ann.ok(f"upload_file {quote(src)} lab")
    info = exported_info(dan, "data", tmp_path / "data.torrent")
    dest = tmp_path / "mine"
    assert dan.ok(f"download_file lab data {quote(dest)} --only big") == [
        f"downloading 'data' from 'lab' to {dest} (1 of 3 files)"
    ]
    state_db = tmp_path / "state" / "dan" / "users" / "dan" / "state.db"
    wait_for(lambda: any(p.down > 0 for p in peers(dan).values()), "data for dan")
    with frozen(ann):
        assert not dest.exists(), "the download ended before the kill; use a larger tree"
        wait_for(lambda: _saved(state_db)[0] > 0, "dan's first verified pieces saved")
        dan.kill()
    assert _saved(state_db)[1] == '["big"]'

    dan = make_client(state="dan")
    out = dan.ok(f"login dan {password_of('dan')}")
    assert any(line.startswith("resuming [lab] data (") for line in out), out
    assert download_line(dan, "lab", "data").endswith(" (1 of 3 files)")
    assert dan.ok("wait", timeout=120) == ["1 download(s) complete"]
    assert files_under(dest) == {"big/data.bin"}
    assert (dest / "big" / "data.bin").read_bytes() == big
    with (tmp_path / f".{info.info_hash_hex}.parts").open("rb") as f:
        assert f.read(len(head)) == head  # the boundary piece's unwanted bytes

    # Shared again at login as the part it is (its other files were never there).
    dan.ok("logout")
    assert dan.ok(f"login dan {password_of('dan')}")[-1] == "sharing 1 file(s) again"
    assert files_under(dest) == {"big/data.bin"}
