"""Tiny random-weight Hugging Face models for the augment tests (nothing is downloaded).

Both reuse the vocabulary of the bundled all-MiniLM-L6-v2 tokenizer, saved next to the model."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: A minimal chat template (ChatML-like) for the tests that check template rendering.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def minilm_tokenizer():
    from transformers import AutoTokenizer

    from l2g.augment.student import default_student_path

    return AutoTokenizer.from_pretrained(str(default_student_path()))


def tiny_bert(out: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide BERT encoder (no head) with the MiniLM tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    tok = minilm_tokenizer()
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    BertModel(cfg).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


def tiny_gpt2(out: Path, chat_template: str | None = None, seed: int = 0) -> Path:
    """A 2-layer, 32-wide GPT-2 causal LM with the MiniLM vocabulary ([SEP] as eos)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    tok = minilm_tokenizer()
    tok.bos_token = "[CLS]"
    tok.eos_token = "[SEP]"
    if chat_template:
        tok.chat_template = chat_template
    cfg = GPT2Config(
        vocab_size=tok.vocab_size,
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out
