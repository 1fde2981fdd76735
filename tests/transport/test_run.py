"""How `mlserve serve` sets up its process (mlserve.transport.run)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mlserve.transport.run import GC_YOUNG_THRESHOLD, collect_young_objects_less_often

pytestmark = pytest.mark.unit


@pytest.fixture
def gc_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("gc_thresholds")
def test_young_objects_are_collected_less_often_and_the_older_generations_as_before() -> None:
    gc.set_threshold(700, 10, 5)
    collect_young_objects_less_often()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 5)


@pytest.mark.usefixtures("gc_thresholds")
def test_a_higher_threshold_set_by_the_embedder_is_kept() -> None:
    gc.set_threshold(GC_YOUNG_THRESHOLD * 2, 10, 10)
    collect_young_objects_less_often()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD * 2, 10, 10)
