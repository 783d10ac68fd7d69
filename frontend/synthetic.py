"""Random-weight BERT models of a chosen shape, saved as Hugging Face model directories.

Benchmarks and tests need transformer shapes that no packaged checkpoint has (a BERT-base
encoder layer, a tiny BERT), without downloading anything.  :func:`make_bert_model` builds
one with seeded random weights and a small WordPiece tokenizer whose vocabulary holds single
characters, so any English text tokenizes to real, varied ids (what calibration needs).
The directory it writes is an ordinary model dir: ``l2g compile``, ``l2g accuracy`` and
``AutoModel.from_pretrained`` all take it.

:func:`make_bert_layer_onnx` exports one bare encoder layer of the same random model (hidden
states in, hidden states out: no embeddings, no mask, no pooling) as an ONNX file; the
issue's end-to-end encoder-layer benchmark measures exactly that.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass(frozen=True)
class BertShape:
    """The shape of a random BERT; the defaults are BERT-base with one encoder layer."""

    hidden: int = 768
    heads: int = 12
    intermediate: int = 3072
    layers: int = 1
    max_positions: int = 512
    #: ``classifier`` (sequence-classification head), ``embedding`` (plain encoder with mean
    #: pooling) or ``layer`` (one bare encoder layer, :func:`make_bert_layer_onnx`)
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
    from transformers import BertForSequenceClassification, BertModel, BertTokenizerFast

    if shape.kind not in ("classifier", "embedding"):
        hint = " (a bare layer is an ONNX file: make_bert_layer_onnx)" if shape.kind == "layer" else ""
        raise ValueError(f"BertShape.kind must be 'classifier' or 'embedding', not {shape.kind!r}{hint}")
    words = _vocabulary()
    cfg = _bert_config(shape, len(words))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = out / "vocab.txt"
    vocab.write_text("\n".join(words) + "\n")
    tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)  # `vocab_file=` is ignored by transformers 5
    torch.manual_seed(seed)
    cls = BertForSequenceClassification if shape.kind == "classifier" else BertModel
    cls(cfg).eval().save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _bert_config(shape: BertShape, vocab_size: int):
    from transformers import BertConfig

    if shape.hidden % shape.heads:
        raise ValueError(f"hidden size {shape.hidden} is not a multiple of {shape.heads} heads")
    return BertConfig(
        vocab_size=vocab_size, hidden_size=shape.hidden, num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads, intermediate_size=shape.intermediate,
        max_position_embeddings=shape.max_positions, num_labels=shape.num_labels,
    )


#: graph input and output names of :func:`make_bert_layer_onnx`
LAYER_INPUT, LAYER_OUTPUT = "hidden_states", "layer_output"


def make_bert_layer_onnx(out_path: str | Path, shape: BertShape = BERT_BASE_LAYER, *, seq_len: int = 128,
                         seed: int = 0) -> Path:
    """Export encoder layer 0 of the random BERT that :func:`make_bert_model` would build
    from ``shape`` and ``seed`` (same weights) to the ONNX file ``out_path`` and return it.

    The graph maps float32 ``hidden_states`` (1, seq_len, hidden) to ``layer_output`` of the
    same shape: self-attention over the whole, unpadded sequence, the FFN, both residual adds
    and LayerNorms, nothing else."""
    import torch
    from transformers import BertModel

    from l2g.frontend.export import export_onnx, use_eager_attention

    torch.manual_seed(seed)
    model = BertModel(_bert_config(shape, len(_vocabulary()))).eval()
    use_eager_attention(model)

    class Layer(torch.nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, hidden_states):
            out = self.layer(hidden_states)
            return out[0] if isinstance(out, tuple) else out

    x = torch.randn(1, seq_len, shape.hidden, generator=torch.Generator().manual_seed(seed))
    out_path = Path(out_path)
    export_onnx(Layer(model.encoder.layer[0]).eval(), (x,), out_path, input_names=[LAYER_INPUT],
                output_names=[LAYER_OUTPUT], what="a BERT encoder layer")
    return out_path
