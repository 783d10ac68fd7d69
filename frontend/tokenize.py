"""Tokenization with the model's own tokenizer, to static shapes.

Every sentence is padded (and truncated) to exactly ``seq_len`` tokens, so the exported ONNX
graph and the compiled module have one fixed input shape.  The result is a typed
:class:`TokenizedBatch` of int64 numpy arrays, the dtype the exported graph expects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class TokenizedBatch:
    """Model inputs for ``len(input_ids)`` sentences, each padded to the same length."""

    input_ids: np.ndarray  # (batch, seq_len) int64
    attention_mask: np.ndarray  # (batch, seq_len) int64, 1 = real token
    token_type_ids: np.ndarray | None  # (batch, seq_len) int64, or None when unused

    def as_inputs(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The arrays for the graph input ``names`` (in that order)."""
        table = {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": self.token_type_ids,
        }
        out = {}
        for n in names:
            if table.get(n) is None:
                from l2g.errors import L2GError

                raise L2GError(f"the model wants input {n!r}, which the tokenizer did not produce")
            out[n] = table[n]
        return out

    def rows(self, start: int, stop: int) -> "TokenizedBatch":
        tt = None if self.token_type_ids is None else self.token_type_ids[start:stop]
        return TokenizedBatch(self.input_ids[start:stop], self.attention_mask[start:stop], tt)


def load_tokenizer(model_dir: str | Path):
    """The Hugging Face tokenizer stored in ``model_dir`` (offline; no hub access)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


def tokenize(tokenizer, texts: Sequence[str], seq_len: int, use_token_type_ids: bool = True) -> TokenizedBatch:
    """Tokenize ``texts`` to ``(len(texts), seq_len)`` int64 arrays (pad to ``seq_len``, truncate)."""
    enc = tokenizer(
        list(texts),
        padding="max_length",
        truncation=True,
        max_length=seq_len,
        return_tensors="np",
        return_token_type_ids=use_token_type_ids,
    )
    tt = enc.get("token_type_ids") if use_token_type_ids else None
    return TokenizedBatch(
        input_ids=enc["input_ids"].astype(np.int64),
        attention_mask=enc["attention_mask"].astype(np.int64),
        token_type_ids=None if tt is None else np.asarray(tt, dtype=np.int64),
    )
