"""Near-duplicate filter: a candidate is dropped when its ROUGE-L F-measure against any
example already in the data (or accepted earlier in the same batch) exceeds the threshold.

Scores come from the ``rouge-score`` library.  Two exact upper bounds on ROUGE-L skip most
pairs before the LCS is computed: F = 2·LCS/(|a|+|b|), and LCS is at most the size of the
multiset intersection of the two token lists (hence also at most min(|a|, |b|)).
"""

from __future__ import annotations

from collections import Counter

from rouge_score import rouge_scorer, tokenizers

from l2g.augment.tasks import Example

DEFAULT_THRESHOLD = 0.95


def dedup_key(ex: Example) -> str:
    """The text compared for duplicates: the input, plus the choices for multiple choice."""
    if ex.choices:
        return ex.text + " " + " ".join(ex.choices)
    return ex.text


class Deduper:
    def __init__(self, existing: list[Example] | None = None, threshold: float = DEFAULT_THRESHOLD):
        self.threshold = threshold
        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        self._tok = tokenizers.DefaultTokenizer(use_stemmer=False)
        self._texts: list[str] = []
        self._bags: list[Counter] = []
        self._lens: list[int] = []
        self._exact: set[str] = set()
        for ex in existing or ():
            self.add(ex)

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, ex: Example) -> None:
        key = dedup_key(ex)
        toks = self._tok.tokenize(key)
        self._texts.append(key)
        self._bags.append(Counter(toks))
        self._lens.append(len(toks))
        self._exact.add(" ".join(key.lower().split()))

    def max_similarity(self, ex: Example) -> float:
        """Highest ROUGE-L F-measure against the data so far (1.0 for an exact repeat).
        Pairs whose upper bound cannot beat the threshold are skipped, so the value is exact
        whenever it exceeds the threshold and a lower bound otherwise."""
        key = dedup_key(ex)
        if " ".join(key.lower().split()) in self._exact:
            return 1.0
        toks = self._tok.tokenize(key)
        n = len(toks)
        if n == 0:
            return 0.0
        bag = Counter(toks)
        best = 0.0
        for text, other, m in zip(self._texts, self._bags, self._lens):
            if m == 0:
                continue
            denom = n + m
            if 2.0 * min(n, m) / denom <= max(best, self.threshold):
                continue
            inter = sum((bag & other).values())
            if 2.0 * inter / denom <= max(best, self.threshold):
                continue
            f = self._scorer.score(text, key)["rougeL"].fmeasure
            if f > best:
                best = f
        return best

    def is_duplicate(self, ex: Example) -> bool:
        return self.max_similarity(ex) > self.threshold

    def offer(self, ex: Example) -> bool:
        """Add ``ex`` unless it is a near-duplicate; True when it was added."""
        if self.is_duplicate(ex):
            return False
        self.add(ex)
        return True
