"""Task registry: label sets, teacher prompt building, teacher-output parsing/validation, metric.

Five tasks are known: three text classifications (``sst2``, ``trec``, ``snips``), one 5-way
multiple choice (``casehold``) and one generative task (``gsm8k``, answers end in ``#### N``).
Everything here is pure Python (no torch), so it is cheap to import and to unit-test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from typing import Literal

from l2g.errors import L2GError

Kind = Literal["classification", "multiple_choice", "generation"]

#: Reasons a teacher output is rejected.  Each is counted per iteration.
REJECT_MALFORMED = "malformed"  # no parseable JSON object where one was expected
REJECT_EMPTY = "empty_text"  # the input text (sentence / prompt / question) is empty
REJECT_UNKNOWN_LABEL = "unknown_label"  # classification label not in the task's label set
REJECT_CHOICE_COUNT = "wrong_choice_count"  # multiple choice without exactly N non-empty choices
REJECT_BAD_CHOICE_LABEL = "bad_choice_label"  # answer index not an int in range
REJECT_MISSING_ANSWER = "missing_answer"  # gsm8k answer without a final `#### N` line
REJECT_DUPLICATE = "duplicate"  # ROUGE-L near-duplicate of existing data (dedup.py)
REJECT_EXTRA = "extra"  # more examples than requested; the surplus is dropped
REJECT_REQUEST_FAILED = "request_failed"  # the teacher call failed after all retries
REJECT_NO_OUTPUT = "no_output"  # the teacher answered, but no example could be found at all

REJECT_REASONS = (
    REJECT_MALFORMED,
    REJECT_EMPTY,
    REJECT_UNKNOWN_LABEL,
    REJECT_CHOICE_COUNT,
    REJECT_BAD_CHOICE_LABEL,
    REJECT_MISSING_ANSWER,
    REJECT_DUPLICATE,
    REJECT_EXTRA,
    REJECT_REQUEST_FAILED,
    REJECT_NO_OUTPUT,
)

_FINAL_ANSWER_RE = re.compile(r"####\s*([-+]?[\d,]*\.?\d+)\s*$")


@dataclass(frozen=True)
class Example:
    """One training/evaluation example.

    ``text`` is the model input: the sentence (classification), the citing context with
    ``<HOLDING>`` (casehold) or the question (gsm8k).  ``label`` is the label name
    (classification), the gold choice index as a decimal string (casehold) or the full worked
    solution ending in ``#### N`` (gsm8k).  ``source`` is ``"seed"`` for original data and
    ``"teacher"`` for augmented data; augmented examples remember the seed ``parent`` uid and
    the ``iteration`` that produced them.
    """

    uid: str
    text: str
    label: str
    choices: tuple[str, ...] = ()
    source: str = "seed"
    parent: str | None = None
    iteration: int | None = None

    @property
    def is_seed(self) -> bool:
        return self.source == "seed"

    def to_json(self) -> dict:
        d = {"uid": self.uid, "text": self.text, "label": self.label, "source": self.source}
        if self.choices:
            d["choices"] = list(self.choices)
        if self.parent is not None:
            d["parent"] = self.parent
        if self.iteration is not None:
            d["iteration"] = self.iteration
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Example":
        return cls(
            uid=str(d["uid"]),
            text=str(d["text"]),
            label=str(d["label"]),
            choices=tuple(d.get("choices") or ()),
            source=str(d.get("source", "seed")),
            parent=d.get("parent"),
            iteration=d.get("iteration"),
        )


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str
    raw: str = ""


@dataclass(frozen=True)
class ParseResult:
    """What one teacher response yielded: candidate examples (not yet deduplicated) and rejects."""

    examples: tuple[Example, ...] = ()
    rejections: tuple[Rejection, ...] = ()


def final_answer(solution: str) -> str | None:
    """The number after the last ``####`` of a GSM8K solution, normalised (no commas), or None."""
    lines = [ln.strip() for ln in solution.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    m = _FINAL_ANSWER_RE.search(lines[-1])
    if not m:
        return None
    num = m.group(1).replace(",", "").lstrip("+")
    if "." in num:
        num = num.rstrip("0").rstrip(".") or "0"
    return num


def iter_json_objects(text: str) -> list[dict]:
    """Every top-level JSON object in ``text``: JSON lines, a JSON list, or objects inside a
    code fence or surrounded by prose.  Non-object values are skipped."""
    dec = json.JSONDecoder()
    out: list[dict] = []
    i, n = 0, len(text)
    while i < n:
        j = text.find("{", i)
        k = text.find("[", i)
        starts = [p for p in (j, k) if p != -1]
        if not starts:
            break
        s = min(starts)
        try:
            obj, end = dec.raw_decode(text, s)
        except json.JSONDecodeError:
            i = s + 1
            continue
        if isinstance(obj, dict):
            out.append(obj)
        elif isinstance(obj, list):
            out.extend(o for o in obj if isinstance(o, dict))
        i = end
    return out


@dataclass(frozen=True)
class Task:
    """A task's fixed description.  ``labels`` is the label set of a classification task."""

    name: str
    kind: Kind
    description: str
    labels: tuple[str, ...] = ()
    label_help: dict[str, str] = field(default_factory=dict)
    n_choices: int = 0
    #: field names of the canonical JSONL files in the shared data folder
    text_field: str = "text"
    label_field: str = "label"
    choices_field: str = "choices"
    #: split files in the data folder
    train_split: str = "train"
    test_split: str = "test"

    # ---- labels -------------------------------------------------------------------------
    def normalise_label(self, raw: object) -> str | None:
        """Canonical label string for a raw value, or None when it is not valid."""
        if self.kind == "classification":
            if isinstance(raw, bool):
                return None
            if isinstance(raw, int) and 0 <= raw < len(self.labels):
                return self.labels[raw]
            s = str(raw).strip()
            if s.isdigit() and int(s) < len(self.labels) and s not in self.labels:
                return self.labels[int(s)]
            for lab in self.labels:
                if s.lower() == lab.lower():
                    return lab
            return None
        if self.kind == "multiple_choice":
            if isinstance(raw, bool):
                return None
            if isinstance(raw, int):
                return str(raw) if 0 <= raw < self.n_choices else None
            s = str(raw).strip()
            if s.isdigit() and int(s) < self.n_choices:
                return str(int(s))
            if len(s) == 1 and s.upper() in "ABCDEFGHIJ"[: self.n_choices]:
                return str("ABCDEFGHIJ".index(s.upper()))
            return None
        s = str(raw).strip()
        return s if final_answer(s) is not None else None

    def label_index(self, label: str) -> int:
        if self.kind == "classification":
            return self.labels.index(label)
        if self.kind == "multiple_choice":
            return int(label)
        raise ValueError("generation tasks have no label index")

    # ---- teacher prompts ----------------------------------------------------------------
    def prompt_template(self) -> Template:
        try:
            text = resources.files("l2g.augment").joinpath("prompts", f"{self.name}.txt").read_text(
                encoding="utf-8"
            )
        except FileNotFoundError as exc:  # pragma: no cover - packaging error
            raise L2GError(f"teacher prompt augment/prompts/{self.name}.txt is missing") from exc
        return Template(text)

    def build_prompt(self, ex: Example, n: int = 1) -> list[dict[str, str]]:
        """Chat messages asking the teacher for ``n`` new examples like ``ex`` (which the
        student got wrong).  The prompt shows the example with its gold label and asks for a
        strict JSON-object-per-line answer."""
        fields = {
            "n": str(n),
            "plural": "" if n == 1 else "s",
            "text": ex.text,
            "label": ex.label,
            "labels": ", ".join(self.labels),
            "label_help": "\n".join(f"- {k}: {v}" for k, v in self.label_help.items()),
            "n_choices": str(self.n_choices),
            "max_index": str(max(self.n_choices - 1, 0)),
            "example_json": json.dumps(self.example_json(ex), ensure_ascii=False),
        }
        if self.kind == "multiple_choice":
            fields["choices"] = "\n".join(f"  {i}: {c}" for i, c in enumerate(ex.choices))
            fields["gold_choice"] = ex.choices[int(ex.label)] if ex.choices else ""
        if self.kind == "generation":
            fields["final_answer"] = final_answer(ex.label) or ""
        user = self.prompt_template().substitute(fields)
        system = (
            "You are a careful data-generation assistant. You write new, diverse, correct "
            "training examples for a small student model, and you answer only in the exact "
            "format you are asked for."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def example_json(self, ex: Example) -> dict:
        """The JSON object form the teacher is asked to produce (and the parser reads)."""
        if self.kind == "classification":
            return {"text": ex.text, "label": ex.label}
        if self.kind == "multiple_choice":
            return {"prompt": ex.text, "choices": list(ex.choices), "label": int(ex.label)}
        return {"question": ex.text, "answer": ex.label}

    # ---- teacher output -----------------------------------------------------------------
    def validate_object(self, obj: dict) -> tuple[str, str, tuple[str, ...]] | Rejection:
        """(text, label, choices) of one parsed JSON object, or why it is invalid."""
        raw = json.dumps(obj, ensure_ascii=False)[:500]
        if self.kind == "classification":
            text = obj.get("text", obj.get("sentence", obj.get("question")))
            if not isinstance(text, str) or not text.strip():
                return Rejection(REJECT_EMPTY, "empty or missing 'text'", raw)
            if "label" not in obj:
                return Rejection(REJECT_UNKNOWN_LABEL, "missing 'label'", raw)
            label = self.normalise_label(obj["label"])
            if label is None:
                return Rejection(REJECT_UNKNOWN_LABEL, f"label {obj['label']!r} not in {list(self.labels)}", raw)
            return text.strip(), label, ()
        if self.kind == "multiple_choice":
            text = obj.get("prompt", obj.get("text", obj.get("context")))
            if not isinstance(text, str) or not text.strip():
                return Rejection(REJECT_EMPTY, "empty or missing 'prompt'", raw)
            choices = obj.get("choices")
            if (
                not isinstance(choices, list)
                or len(choices) != self.n_choices
                or not all(isinstance(c, str) and c.strip() for c in choices)
            ):
                got = len(choices) if isinstance(choices, list) else type(choices).__name__
                return Rejection(REJECT_CHOICE_COUNT, f"need {self.n_choices} non-empty choices, got {got}", raw)
            if len({c.strip() for c in choices}) != len(choices):
                return Rejection(REJECT_CHOICE_COUNT, "choices are not distinct", raw)
            label = self.normalise_label(obj.get("label", obj.get("answer")))
            if label is None:
                return Rejection(REJECT_BAD_CHOICE_LABEL, f"label {obj.get('label')!r} not in 0..{self.n_choices - 1}", raw)
            return text.strip(), label, tuple(c.strip() for c in choices)
        text = obj.get("question", obj.get("text"))
        if not isinstance(text, str) or not text.strip():
            return Rejection(REJECT_EMPTY, "empty or missing 'question'", raw)
        answer = obj.get("answer")
        if not isinstance(answer, str) or final_answer(answer) is None:
            return Rejection(REJECT_MISSING_ANSWER, "answer does not end in a '#### N' line", raw)
        return text.strip(), answer.strip(), ()

    def parse_response(
        self, content: str | None, parent: Example, iteration: int, n: int, uid_prefix: str
    ) -> ParseResult:
        """Examples in one teacher response.  At most ``n`` valid ones are kept (the rest count
        as ``extra``); every invalid object is rejected with its reason."""
        if content is None or not content.strip():
            return ParseResult((), (Rejection(REJECT_NO_OUTPUT, "empty response"),))
        objs = iter_json_objects(content)
        if not objs:
            return ParseResult((), (Rejection(REJECT_MALFORMED, "no JSON object found", content[:500]),))
        good: list[Example] = []
        bad: list[Rejection] = []
        for obj in objs:
            v = self.validate_object(obj)
            if isinstance(v, Rejection):
                bad.append(v)
                continue
            if len(good) >= n:
                bad.append(Rejection(REJECT_EXTRA, f"more than {n} example(s) returned"))
                continue
            text, label, choices = v
            good.append(
                Example(
                    uid=f"{uid_prefix}-{len(good)}",
                    text=text,
                    label=label,
                    choices=choices,
                    source="teacher",
                    parent=parent.uid,
                    iteration=iteration,
                )
            )
        return ParseResult(tuple(good), tuple(bad))

    # ---- metric -------------------------------------------------------------------------
    def is_correct(self, ex: Example, prediction: str) -> bool:
        """Whether a student prediction (label name / index string / generated text) is right."""
        if self.kind == "generation":
            pred = final_answer(prediction)
            return pred is not None and pred == final_answer(ex.label)
        return prediction == ex.label


def accuracy(flags: list[bool]) -> float:
    return float(sum(flags)) / len(flags) if flags else 0.0


TASKS: dict[str, Task] = {
    "sst2": Task(
        name="sst2",
        kind="classification",
        description="binary sentiment of a movie-review sentence",
        labels=("negative", "positive"),
        label_help={"negative": "the sentence expresses a negative opinion of the movie",
                    "positive": "the sentence expresses a positive opinion of the movie"},
    ),
    "trec": Task(
        name="trec",
        kind="classification",
        description="coarse answer type of an open-domain question",
        labels=("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"),
        label_help={
            "ABBR": "abbreviation or what an abbreviation stands for",
            "DESC": "description, definition, manner or reason",
            "ENTY": "entity: animal, color, food, product, event, term, other thing",
            "HUM": "human being, group or organisation, or a description of one",
            "LOC": "location: city, country, mountain, state, other place",
            "NUM": "numeric value: count, date, distance, money, period, speed, size",
        },
    ),
    "snips": Task(
        name="snips",
        kind="classification",
        description="intent of a voice-assistant utterance",
        labels=(
            "AddToPlaylist",
            "BookRestaurant",
            "GetWeather",
            "PlayMusic",
            "RateBook",
            "SearchCreativeWork",
            "SearchScreeningEvent",
        ),
        label_help={
            "AddToPlaylist": "add a song, artist or album to a named playlist",
            "BookRestaurant": "reserve a table at a restaurant",
            "GetWeather": "ask about the weather forecast somewhere or at some time",
            "PlayMusic": "play a song, artist, album, genre or playlist",
            "RateBook": "give a rating to a book or other written work",
            "SearchCreativeWork": "find a movie, show, song, book, game or other creative work",
            "SearchScreeningEvent": "find movie showtimes or cinemas",
        },
    ),
    "casehold": Task(
        name="casehold",
        kind="multiple_choice",
        description="pick the holding that a legal citing context refers to",
        n_choices=5,
        text_field="prompt",
        # The shared data holds a test sample only; data.py carves seed and test from it.
        train_split="train",
    ),
    "gsm8k": Task(
        name="gsm8k",
        kind="generation",
        description="grade-school math word problem with a worked solution",
        text_field="question",
        label_field="answer",
    ),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise L2GError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None
