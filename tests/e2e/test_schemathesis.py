"""Property-based fuzzing of every route in /openapi.json against the real sample server:
no 5xx, and every response matches its documented status, content type and schema.

(tests/e2e/fuzzing.py drives each operation with hypothesis.)"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mlserve.server.admin import is_admin_path
from tests.e2e.fuzzing import fuzz_every_operation

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_every_operation_survives_fuzzing(live_server: str) -> None:
    """The admin routes are fuzzed on a server of their own (tests/server/test_repository.py):
    an unload here would take the session's shared server's models away."""
    schema = schemathesis.openapi.from_url(live_server + "/openapi.json")
    operations = fuzz_every_operation(
        schema, live_server, CHECKS, max_examples=20, only=lambda path: not is_admin_path(path)
    )
    assert operations > 15
