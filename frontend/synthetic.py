"""Random-weight BERT models of a chosen shape, saved as Hugging Face model directories.

Benchmarks and tests need transformer shapes that no packaged checkpoint has (a BERT-base
encoder layer, a tiny BERT), without downloading anything.  :func:`make_bert_model` builds
one with seeded random weights and a small WordPiece tokenizer whose vocabulary holds single
characters, so any English text tokenizes to real, varied ids (what calibration needs).
The directory it writes is an ordinary model dir: ``l2g compile``, ``l2g accuracy`` and
``AutoModel.from_pretrained`` all take it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass(frozen=True)
class BertShape:
    """The shape of a random BERT; the defaults are one BERT-base encoder layer."""

    hidden: int = 768
    heads: int = 12
    intermediate: int = 3072
    layers: int = 1
    max_positions: int = 512
    #: ``classifier`` (sequence-classification head) or ``embedding`` (plain encoder)
    kind: str = "embedding"
    num_labels: int = 2


BERT_BASE_LAYER = BertShape()


def _vocabulary() -> list[str]:
    # characters and their continuation pieces: every lowercase ASCII word has a tokenization
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    return SPECIAL_TOKENS + chars + ["##" + c for c in chars]


def make_bert_model(out_dir: str | Path, shape: BertShape = BERT_BASE_LAYER, *, seed: int = 0) -> Path:
    """Write a random-weight BERT of ``shape`` (weights from ``seed``) plus its tokenizer to
    ``out_dir`` and return the directory."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    if shape.kind not in ("classifier", "embedding"):
        raise ValueError(f"BertShape.kind must be 'classifier' or 'embedding', not {shape.kind!r}")
    if shape.hidden % shape.heads:
        raise ValueError(f"hidden size {shape.hidden} is not a multiple of {shape.heads} heads")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = out / "vocab.txt"
    words = _vocabulary()
    vocab.write_text("\n".join(words) + "\n")
    tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)  # `vocab_file=` is ignored by transformers 5
    cfg = BertConfig(
        vocab_size=len(words), hidden_size=shape.hidden, num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads, intermediate_size=shape.intermediate,
        max_position_embeddings=shape.max_positions, num_labels=shape.num_labels,
    )
    torch.manual_seed(seed)
    cls = BertForSequenceClassification if shape.kind == "classifier" else BertModel
    cls(cfg).eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out
