"""`{"text": ".."}` or `{"texts": [..]}` -> a list of strings, within the limits."""

from __future__ import annotations

from typing import Any

from mlserve.config.schema import LimitsSpec
from mlserve.errors import InputError, LimitExceeded, SchemaViolation


def texts(
    payload: Any, limits: LimitsSpec, tokens_per_text: int | None = None
) -> tuple[list[str], bool]:
    """Return the texts and whether the caller sent a single `text`.

    `tokens_per_text` is the model's truncation length: with it, the request's token budget
    is checked, so that one request cannot hold the model for longer than the request
    timeout (model time grows with texts x tokens)."""
    if not isinstance(payload, dict) or ("text" in payload) == ("texts" in payload):
        raise SchemaViolation('send exactly one of {"text": "..."} or {"texts": ["...", ...]}')
    extra = sorted(set(payload) - {"text", "texts"})
    if extra:
        raise SchemaViolation(f"unexpected field(s): {', '.join(extra)}")
    single = "text" in payload
    items = [payload["text"]] if single else payload["texts"]
    if not isinstance(items, list):
        raise SchemaViolation("'texts' must be a list of strings")
    return checked_texts(items, limits, tokens_per_text, single=single), single


def checked_texts(
    items: list[Any],
    limits: LimitsSpec,
    tokens_per_text: int | None = None,
    *,
    single: bool = False,
) -> list[str]:
    """The texts, each a non-empty string within the limits (`single`: as `{"text": ..}`
    names it in errors)."""
    if not items:
        raise InputError("'texts' is empty; send at least one text")
    if len(items) > limits.max_texts:
        raise LimitExceeded(f"{len(items)} texts in one request; the limit is {limits.max_texts}")
    for i, text in enumerate(items):
        where = "'text'" if single else f"texts[{i}]"
        if not isinstance(text, str):
            raise SchemaViolation(f"{where} must be a string")
        if not text.strip():
            raise InputError(f"{where} is empty")
        if len(text) > limits.max_text_chars:
            raise LimitExceeded(
                f"{where} has {len(text)} characters; the limit is {limits.max_text_chars}"
            )
    if tokens_per_text is not None:
        _check_token_budget(items, tokens_per_text, limits.max_text_tokens)
    return items


def _check_token_budget(items: list[str], tokens_per_text: int, budget: int) -> None:
    # A tokenizer makes at most one token per character, plus its two special tokens, so this
    # bound needs no tokenizer and never lets through a request over the budget.
    tokens = sum(min(len(text) + 2, tokens_per_text) for text in items)
    if tokens > budget:
        raise LimitExceeded(
            f"these {len(items)} texts may take up to {tokens} tokens; the limit is {budget} "
            "per request: send fewer or shorter texts per request"
        )
