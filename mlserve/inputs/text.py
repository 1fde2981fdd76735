"""`{"text": ".."}` or `{"texts": [..]}` -> a list of strings, within the limits."""

from __future__ import annotations

import unicodedata
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


def token_bound(text: str) -> int:
    """At most how many tokens any tokenizer makes of `text`, with no tokenizer at hand.

    Characters are no bound: WordPiece decomposes Hangul into jamo (16 syllables: 23 tokens)
    and byte-level BPE takes every UTF-8 byte for a token (Hangul was undercounted 2.7x).
    Tokens come from the text's bytes, or from the bytes of its compatibility decomposition
    and case folding (one ligature, U+FDFA, is 18 letters), one at most per byte, plus a word
    marker and two special tokens."""
    if text.isascii():
        return len(text) + 3
    normalized = unicodedata.normalize("NFKD", text.casefold())
    return max(len(text.encode()), len(normalized.encode())) + 3


def _check_token_budget(items: list[str], tokens_per_text: int, budget: int) -> None:
    tokens = sum(min(token_bound(text), tokens_per_text) for text in items)
    if tokens > budget:
        raise LimitExceeded(
            f"these {len(items)} texts may take up to {tokens} tokens; the limit is {budget} "
            "per request: send fewer or shorter texts per request"
        )
