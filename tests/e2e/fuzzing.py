"""Drive every operation of an OpenAPI schema with hypothesis (schemathesis' pytest plugin does
not run under pytest 9 yet, so each operation's strategy is driven directly)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings


def fuzz_every_operation(
    schema: Any,
    base_url: str,
    checks: list[Any],
    max_examples: int,
    only: Callable[[str], bool] = lambda path: True,
) -> int:
    """Call every operation (whose path `only` accepts) `max_examples` times
    (deterministically) and run `checks` on each answer; return how many operations there
    were."""
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [o for o in operations if only(o.path)]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            case.call_and_validate(base_url=base_url, checks=checks)

        fuzz()
    return len(operations)
