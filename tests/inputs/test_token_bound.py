"""The text token budget holds for every script: the bound it counts is at least what the
sample transformer's real tokenizer makes (issue 34: Hangul was undercounted 2.7x, and a
request over the budget ran 28 s into a 504)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlserve.inputs.text import token_bound

pytestmark = pytest.mark.e2e  # the sample build's tokenizer

TEXTS = [
    "I loved this film",
    "나는 이 영화가 정말 좋았어요",  # WordPiece splits each syllable into its jamo
    "मुझे यह फिल्म पसंद आई",
    "这部电影我很喜欢",
    "😀😀😀 👨‍👩‍👧‍👦",
    "\ufdfa\ufdfa",  # one character, 18 letters in its compatibility form
    "Straße İstanbul ǅ",
    "x",
]


@pytest.fixture(scope="module")
def tokenizer(samples: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(samples / "sentiment")


@pytest.mark.parametrize("text", TEXTS)
def test_the_bound_is_at_least_the_real_token_count(tokenizer: Any, text: str) -> None:
    real = len(tokenizer(text)["input_ids"])
    assert token_bound(text) >= real, (text, token_bound(text), real)
    assert token_bound(text * 50) >= len(tokenizer(text * 50)["input_ids"])


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(text=st.text(max_size=200))
def test_the_bound_holds_for_any_text(tokenizer: Any, text: str) -> None:
    assert token_bound(text) >= len(tokenizer(text)["input_ids"])


def test_a_request_over_the_budget_in_hangul_is_413(tokenizer: Any, app_client: Any) -> None:
    """256 short Korean reviews: 16,384 tokens by the old count (characters + 2), within the
    budget, but 21,760 in the tokenizer's, so the model would have run them."""
    review = ("나는 이 영화가 정말 좋았어요 " * 4)[:62]
    texts = [review] * 256
    real = sum(min(len(tokenizer(t)["input_ids"]), 128) for t in texts)
    assert sum(len(t) + 2 for t in texts) <= 16_384 < real
    answer = app_client.post("/models/sentiment/classify", json={"texts": texts})
    assert answer.status_code == 413, answer.text
    assert "tokens" in answer.json()["message"]
    fits = app_client.post("/models/sentiment/classify", json={"texts": texts[:64]})
    assert fits.status_code == 200, fits.text
