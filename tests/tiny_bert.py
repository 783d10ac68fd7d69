"""A tiny random-weight BERT (hidden 32, 2 layers) with its own word-level vocabulary.

Built on the fly (no downloads) for tests that need a real transformers model directory.
"""

from __future__ import annotations

from pathlib import Path

WORDS = "the a movie film is was good bad great awful not very fun boring plot acting it and".split()
SENTENCES = [
    "the movie was good", "a very bad film", "it is not fun", "great acting and plot",
    "the plot was boring", "awful film", "it was a great movie", "not very good acting",
    "the film is fun", "a boring and awful plot", "good good good", "bad",
]


def make_tiny_berts(root: Path, kinds=("classifier", "embedding"), weight_scale: float = 5.0) -> dict[str, Path]:
    """Save tiny BERTs (``classifier`` and/or ``embedding``) plus tokenizer under ``root/kind``.

    The random weights come from one seeded stream, drawn in the order of ``kinds``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS) + "\n")
    tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)  # `vocab_file=` is ignored by transformers 5
    cfg = BertConfig(
        vocab_size=len(WORDS) + 5, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, num_labels=2,
        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
    )
    torch.manual_seed(0)
    dirs = {}
    for kind in kinds:
        cls = BertForSequenceClassification if kind == "classifier" else BertModel
        model = cls(cfg).eval()
        with torch.no_grad():  # larger-than-init weights so that quantization error is visible
            for p in model.parameters():
                if p.dim() == 2:
                    p.mul_(weight_scale)
        out = root / kind
        model.save_pretrained(out)
        tok.save_pretrained(out)
        dirs[kind] = out
    return dirs


def make_tiny_bert(root: Path, kind: str = "classifier", weight_scale: float = 5.0) -> Path:
    """One tiny BERT (see :func:`make_tiny_berts`)."""
    return make_tiny_berts(root, (kind,), weight_scale)[kind]
