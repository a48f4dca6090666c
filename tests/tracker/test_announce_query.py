"""The announce's query split: the one-pass split of plain queries gives exactly what the
general parse gives, or leaves the query to it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from minitorrent.tracker import announce

_NAMES = st.sampled_from(
    [
        b"info_hash",
        b"peer_id",
        b"port",
        b"left",
        b"event",
        b"ip",
        b"key",
        b"",
        b"info%5Fhash",  # an escaped name: the same parameter
        b"x.info_hash",
        b"\xffport",  # not ASCII: refused as malformed
        b"le%66t",
    ]
)
_VALUES = st.one_of(
    st.sampled_from([b"", b"0", b"6881", b"%01%02", b"%zz", b"a=b", b"%31", b"+"]),
    st.binary(max_size=8).filter(lambda v: b"&" not in v),
)
_PART = st.one_of(
    st.tuples(_NAMES, _VALUES).map(lambda nv: nv[0] + b"=" + nv[1]),
    _NAMES,  # a part without `=`
    st.binary(max_size=6).filter(lambda v: b"&" not in v),
)


def _general(raw: bytes) -> announce.Fields | str:
    try:
        params = announce.parse_query(raw, once=announce._ANNOUNCE_PARAMS)
    except announce.Failure as exc:
        return exc.reason
    return {n.encode(): params[n][0] for n in announce._ANNOUNCE_PARAMS & params.keys()}


@settings(max_examples=600, deadline=None)
@given(parts=st.lists(_PART, max_size=8))
def test_the_one_pass_split_agrees_with_the_general_parse(parts: list[bytes]) -> None:
    raw = b"&".join(parts)
    plain = announce._plain_fields(raw)
    if plain is not None:
        assert {k: v for k, v in plain.items() if k.decode() in announce._ANNOUNCE_PARAMS} == (
            _general(raw)
        ), raw


def test_a_client_announce_takes_the_one_pass_split() -> None:
    raw = b"info_hash=%01%02&peer_id=-AB-&port=6881&uploaded=0&left=7&key=a=b&compact=1"
    assert announce._plain_fields(raw) == {
        b"info_hash": b"\x01\x02",
        b"peer_id": b"-AB-",
        b"port": b"6881",
        b"uploaded": b"0",
        b"left": b"7",
        b"key": b"a=b",
        b"compact": b"1",
    }


def test_names_escaped_repeated_or_not_ascii_go_to_the_general_parse() -> None:
    for raw in (
        b"info_hash=%01&info%5Fhash=%02",
        b"left=0&left=1",
        b"\xffx=1&left=0",
        b"left=0&",
        b"left=0&&port=1",
        b"left",
    ):
        assert announce._plain_fields(raw) is None, raw
