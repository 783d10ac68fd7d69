"""LLM2LLM data augmentation (``l2g augment``) and a local OpenAI-compatible teacher
(``l2g teacher serve``).

Modules, one job each: ``tasks`` (task registry, prompts, parsing, metric), ``data`` (loaders,
seed selection), ``teacher`` (client, concurrency, retries, log, cache), ``dedup`` (ROUGE-L
near-duplicates), ``student`` (LoRA train / evaluate / merge), ``loop`` (the algorithm, state,
resume), ``report`` (table and plot), ``serve`` (teacher server), ``cli``.  See docs/augment.md.
"""
