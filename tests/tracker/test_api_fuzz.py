"""The JSON API fuzzed by schemathesis from its own OpenAPI document.

Every operation gets valid and invalid inputs (schemathesis' positive and negative
modes) with a logged-in member's token: whatever arrives, the tracker answers
without a 5xx, and every error is the JSON shape {"error": code, "message": text}.
"""

from __future__ import annotations

import pytest
import schemathesis
from argon2 import PasswordHasher
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode

from minitorrent.tracker.db import Database
from minitorrent.tracker.services.throttle import LoginThrottle

from .helpers import FakeClock, login, make_group, make_info, make_users, share

# A bounded budget: the whole module runs in well under a minute.
EXAMPLES_PER_OPERATION = 12  # per generation mode


@pytest.fixture
def auth_header(database: Database, hasher: PasswordHasher, clock: FakeClock) -> dict[str, str]:
    """ann, admin of group "g" sharing one file, so that valid ids lead somewhere.

    Set up in the database, not through the app: schemathesis runs the app (its lifespan
    and every request) on an event loop of its own, and an app serves one loop only."""
    with database.session() as db, db.begin():
        make_users(db, hasher, clock(), "ann")
        make_group(db, clock(), "g", "ann")
        share(db, clock(), "g", "ann", make_info("g", "file.bin"))
        token = login(db, hasher, LoginThrottle(clock=clock.monotonic), clock, "ann", "pw-ann")
    return {"Authorization": f"Bearer {token.token}"}


def _check(case: Case, headers: dict[str, str]) -> None:
    response = case.call(headers=headers)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text!r}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"error", "message"}, where
        assert isinstance(body["error"], str) and body["error"], where
        assert isinstance(body["message"], str) and body["message"], where


LAST = {"DELETE /api/v1/groups/{group_id}/membership", "DELETE /api/v1/sessions/current"}
# Path parameters that name things that exist, so fuzzed bodies get past the 404s.
KNOWN = {"group_id": "g", "name": "file.bin", "user_id": "ann"}


def _cases(operation: APIOperation, mode: GenerationMode) -> st.SearchStrategy[Case]:
    def aim(pair: tuple[Case, bool]) -> Case:
        case, known = pair
        if known and case.path_parameters:
            for key in case.path_parameters.keys() & KNOWN.keys():
                case.path_parameters[key] = KNOWN[key]
        return case

    return st.tuples(operation.as_strategy(generation_mode=mode), st.booleans()).map(aim)


# One test looping over the operations: the app, its users and files are built once.
# (schemathesis' lazy pytest schema does not work with parametrized fixtures.) SQLite
# only: this fuzzes the web layer, the PostgreSQL runs cover the queries.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_5xx_and_every_error_is_json(app: FastAPI, auth_header: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # /announce/<passkey> and /scrape answer bencoded text: fuzzed in test_bt_announce.py.
    fuzzed = [op for op in operations if "bittorrent" not in (op.tags or [])]
    # Leaving "g" or logging out would spoil the operations after them: those go last.
    fuzzed.sort(key=lambda op: op.label in LAST)
    assert len(fuzzed) >= 15, [op.label for op in operations]
    for operation in fuzzed:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=_cases(operation, mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,  # the same inputs on every run: failures reproduce
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def fuzz(case: Case) -> None:
                _check(case, auth_header)

            fuzz()
