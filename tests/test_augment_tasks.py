"""Pure logic of l2g.augment: task prompts and output parsing, label validation, dedup,
loaders and seed selection.  No model, no network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from l2g.augment import tasks as T
from l2g.augment.data import DataSource, FieldMap, load_examples, plan_splits, select_seed
from l2g.augment.dedup import Deduper
from l2g.augment.tasks import Example, get_task
from l2g.errors import L2GError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")

SEEDS = {
    "sst2": Example("s1", "the acting is wooden and the plot goes nowhere .", "negative"),
    "trec": Example("s2", "What does NASA stand for ?", "ABBR"),
    "snips": Example("s3", "add this tune to my dinner party playlist", "AddToPlaylist"),
    "casehold": Example(
        "s4",
        "The court found the contract void. See Smith v. Jones (<HOLDING>).",
        "2",
        ("holding that a", "holding that b", "holding that contracts against public policy are void",
         "holding that d", "holding that e"),
    ),
    "gsm8k": Example("s5", "Tom has 3 apples and buys 4 more. How many?", "3 + 4 = <<3+4=7>>7\n#### 7"),
}


# ---- prompts --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(T.TASKS))
def test_prompt_shows_example_gold_label_and_format(name):
    task = get_task(name)
    ex = SEEDS[name]
    msgs = task.build_prompt(ex, n=1)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "$" not in user.replace("$$", "")  # every placeholder substituted
    assert ex.text in user
    assert "JSON" in user and "exactly 1 line" in user
    # the wrong example is shown in the exact format the teacher must answer in
    last = json.loads(user.strip().splitlines()[-1])
    assert last == task.example_json(ex)
    if task.kind == "classification":
        assert f"Correct {'intent' if name == 'snips' else 'label'}: {ex.label}" in user
        for lab in task.labels:
            assert lab in user
    elif task.kind == "multiple_choice":
        assert "Correct answer: 2" in user and ex.choices[2] in user
        assert "<HOLDING>" in user and "exactly 5" in user
    else:
        assert "#### 7" in user and "#### <number>" in user


def test_prompt_plural():
    user = get_task("sst2").build_prompt(SEEDS["sst2"], n=3)[1]["content"]
    assert "3 NEW examples" in user and "exactly 3 lines" in user


def test_prompt_files_are_distinct_per_task():
    texts = {n: get_task(n).prompt_template().template for n in T.TASKS}
    assert len(set(texts.values())) == len(T.TASKS)


# ---- parsing and validation -----------------------------------------------------------------

GOOD = {
    "sst2": '{"text": "a dull , lifeless remake .", "label": "negative"}',
    "trec": '{"text": "What does CIA stand for ?", "label": "ABBR"}',
    "snips": '{"text": "put some jazz on my road trip list", "label": "AddToPlaylist"}',
    "casehold": json.dumps({"prompt": "x <HOLDING> y", "choices": ["h0", "h1", "h2", "h3", "h4"], "label": 4}),
    "gsm8k": json.dumps({"question": "Ann has 2 cats and 5 dogs. Pets?", "answer": "2 + 5 = 7\n#### 7"}),
}


@pytest.mark.parametrize("name", list(T.TASKS))
def test_parse_good_output(name):
    task = get_task(name)
    seed = SEEDS[name]
    res = task.parse_response(GOOD[name], seed, iteration=3, n=1, uid_prefix="p")
    assert not res.rejections
    (ex,) = res.examples
    assert ex.source == "teacher" and ex.parent == seed.uid and ex.iteration == 3 and not ex.is_seed
    assert ex.uid == "p-0"
    if task.kind == "multiple_choice":
        assert ex.label == "4" and len(ex.choices) == 5
    elif task.kind == "generation":
        assert T.final_answer(ex.label) == "7"


@pytest.mark.parametrize(
    "content",
    [
        '```json\n{"text": "grim .", "label": "negative"}\n```',
        'Sure! Here is one:\n{"text": "grim .", "label": "negative"}\nHope it helps.',
        '[{"text": "grim .", "label": "negative"}]',
        '{"text": "grim .",\n "label": 0}',
    ],
)
def test_parse_tolerates_fences_prose_lists_and_index_labels(content):
    res = get_task("sst2").parse_response(content, SEEDS["sst2"], 1, 1, "p")
    assert [(e.text, e.label) for e in res.examples] == [("grim .", "negative")]


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("sst2", "no json here at all", T.REJECT_MALFORMED),
        ("sst2", '{"text": "great", "label": "neutral"}', T.REJECT_UNKNOWN_LABEL),
        ("sst2", '{"text": "great"}', T.REJECT_UNKNOWN_LABEL),
        ("sst2", '{"text": "   ", "label": "positive"}', T.REJECT_EMPTY),
        ("trec", '{"text": "Who is he ?", "label": "PERSON"}', T.REJECT_UNKNOWN_LABEL),
        ("snips", '{"text": "play abba", "label": "playmusic2"}', T.REJECT_UNKNOWN_LABEL),
        ("casehold", json.dumps({"prompt": "a <HOLDING>", "choices": ["a", "b", "c", "d"], "label": 0}), T.REJECT_CHOICE_COUNT),
        ("casehold", json.dumps({"prompt": "a <HOLDING>", "choices": ["a", "a", "c", "d", "e"], "label": 0}), T.REJECT_CHOICE_COUNT),
        ("casehold", json.dumps({"prompt": "a <HOLDING>", "choices": ["a", "b", "c", "d", "e"], "label": 5}), T.REJECT_BAD_CHOICE_LABEL),
        ("casehold", json.dumps({"prompt": "", "choices": ["a", "b", "c", "d", "e"], "label": 1}), T.REJECT_EMPTY),
        ("gsm8k", json.dumps({"question": "q?", "answer": "it is 7"}), T.REJECT_MISSING_ANSWER),
        ("gsm8k", json.dumps({"question": "q?", "answer": "#### seven"}), T.REJECT_MISSING_ANSWER),
        ("gsm8k", json.dumps({"question": "", "answer": "#### 7"}), T.REJECT_EMPTY),
        ("gsm8k", "", T.REJECT_NO_OUTPUT),
    ],
)
def test_parse_rejects_with_reason(name, content, reason):
    res = get_task(name).parse_response(content, SEEDS[name], 1, 1, "p")
    assert not res.examples
    assert [r.reason for r in res.rejections] == [reason]


def test_parse_keeps_at_most_n_and_counts_extra():
    content = "\n".join(json.dumps({"text": f"t{i}", "label": "positive"}) for i in range(3))
    res = get_task("sst2").parse_response(content, SEEDS["sst2"], 1, 2, "p")
    assert [e.uid for e in res.examples] == ["p-0", "p-1"]
    assert [r.reason for r in res.rejections] == [T.REJECT_EXTRA]


def test_label_normalisation():
    sst2, trec, case = get_task("sst2"), get_task("trec"), get_task("casehold")
    assert sst2.normalise_label(1) == "positive" and sst2.normalise_label("0") == "negative"
    assert sst2.normalise_label("Positive") == "positive" and sst2.normalise_label(2) is None
    assert sst2.normalise_label(True) is None
    assert trec.normalise_label("hum") == "HUM" and trec.normalise_label("HUM:ind") is None
    assert case.normalise_label(4) == "4" and case.normalise_label("B") == "1" and case.normalise_label(5) is None


@pytest.mark.parametrize(
    "sol,ans",
    [("a\n#### 72", "72"), ("#### 1,000", "1000"), ("x\n####  -3", "-3"), ("#### 2.50", "2.5"),
     ("#### 7 apples", None), ("no answer", None), ("#### 7\nmore text", None)],
)
def test_final_answer(sol, ans):
    assert T.final_answer(sol) == ans


def test_generation_metric_compares_final_numbers():
    task, ex = get_task("gsm8k"), SEEDS["gsm8k"]
    assert task.is_correct(ex, "3 plus 4 is 7\n#### 7")
    assert not task.is_correct(ex, "#### 8") and not task.is_correct(ex, "seven")


def test_unknown_task():
    with pytest.raises(L2GError, match="unknown task"):
        get_task("mnli")


# ---- dedup ------------------------------------------------------------------------------------


def _ex(uid, text, source="seed"):
    return Example(uid, text, "positive", source=source)


def test_dedup_drops_near_duplicates_and_keeps_new_text():
    base = _ex("a", "the movie is a charming and funny ride from start to finish with great actors .")
    d = Deduper([base], threshold=0.95)
    assert d.is_duplicate(_ex("b", base.text))  # exact
    assert d.is_duplicate(_ex("c", base.text.upper()))  # rouge tokenizer lower-cases
    # one word changed out of 17: ROUGE-L F = 16/17 ≈ 0.94 < 0.95 → kept at the default
    one_off = base.text.replace("funny", "witty")
    assert d.max_similarity(_ex("d", one_off)) < 0.95 and not d.is_duplicate(_ex("d", one_off))
    assert Deduper([base], threshold=0.9).is_duplicate(_ex("d", one_off))
    assert not d.is_duplicate(_ex("e", "a tedious mess ."))


def test_dedup_matches_rouge_score_library():
    from rouge_score import rouge_scorer

    sc = rouge_scorer.RougeScorer(["rougeL"])
    a = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twentyone"
    b = a + " twentytwo"
    ref = sc.score(a, b)["rougeL"].fmeasure
    assert ref > 0.95
    d = Deduper([_ex("a", a)])
    assert d.max_similarity(_ex("b", b)) == pytest.approx(ref)
    assert d.is_duplicate(_ex("b", b))


def test_dedup_offer_deduplicates_within_a_batch():
    d = Deduper([], threshold=0.95)
    assert d.offer(_ex("x", "brand new sentence here"))
    assert not d.offer(_ex("y", "brand new sentence here"))
    assert len(d) == 1


def test_dedup_multiple_choice_uses_choices():
    a = Example("a", "same context <HOLDING>", "0", ("h1", "h2", "h3", "h4", "h5"))
    b = Example("b", "same context <HOLDING>", "0", ("x1 q", "x2 q", "x3 q", "x4 q", "x5 q"))
    assert not Deduper([a]).is_duplicate(b)
    assert Deduper([a]).is_duplicate(a)


# ---- loaders and seed selection ---------------------------------------------------------------


def test_select_seed_size_fraction_reproducible():
    pool = [_ex(str(i), f"t{i}") for i in range(1000)]
    a = select_seed(pool, size=16, seed=7)
    assert a == select_seed(pool, size=16, seed=7) and len(a) == 16
    assert a != select_seed(pool, size=16, seed=8)
    assert [e.uid for e in a] == sorted((e.uid for e in a), key=int)  # pool order
    assert len(select_seed(pool, fraction=0.01)) == 10
    assert len(select_seed(pool, fraction=0.0001)) == 1
    with pytest.raises(L2GError):
        select_seed(pool, size=2000)
    with pytest.raises(L2GError):
        select_seed(pool, size=5, fraction=0.1)
    with pytest.raises(L2GError):
        select_seed(pool, fraction=1.5)


@needs_shared
@pytest.mark.parametrize("name,split", [("sst2", "test"), ("trec", "test"), ("snips", "test"),
                                        ("casehold", "test"), ("gsm8k", "test")])
def test_loads_shared_jsonl(name, split):
    task = get_task(name)
    exs = load_examples(task, DataSource(str(SHARED / name / f"{split}.jsonl")), "test-")
    assert exs and all(e.text for e in exs)
    if task.kind == "classification":
        assert {e.label for e in exs} <= set(task.labels)
        assert len({e.label for e in exs}) == len(task.labels)
    elif task.kind == "multiple_choice":
        assert len(exs) == 1000 and all(len(e.choices) == 5 for e in exs)
    else:
        assert all(T.final_answer(e.label) is not None for e in exs)


@needs_shared
def test_casehold_seed_and_test_do_not_overlap():
    plan = plan_splits(get_task("casehold"), data_dir=SHARED, train=None, test=None,
                       seed_size=20, seed_fraction=None, seed=0, test_size=None)
    assert len(plan.seed) == 20 and len(plan.test) == 980 and "missing" in plan.note
    assert not {e.text for e in plan.seed} & {e.text for e in plan.test}


@needs_shared
def test_sst2_one_percent_seed():
    plan = plan_splits(get_task("sst2"), data_dir=SHARED, train=None, test=None,
                       seed_size=None, seed_fraction=0.01, seed=0, test_size=100)
    assert len(plan.seed) == 673 and len(plan.test) == 100


def test_local_csv_with_field_mapping(tmp_path):
    p = tmp_path / "reviews.csv"
    p.write_text("sentence,sentiment\nloved it,1\nhated it,0\n", encoding="utf-8")
    exs = load_examples(get_task("sst2"), DataSource(str(p), FieldMap.parse("text=sentence,label=sentiment")), "tr-")
    assert [(e.uid, e.text, e.label) for e in exs] == [("tr-0", "loved it", "positive"), ("tr-1", "hated it", "negative")]


def test_local_csv_multiple_choice_columns(tmp_path):
    p = tmp_path / "mc.csv"
    p.write_text("ctx,c0,c1,c2,c3,c4,ans\nx <HOLDING>,a,b,c,d,e,3\n", encoding="utf-8")
    fm = FieldMap.parse("text=ctx,choices=c0|c1|c2|c3|c4,label=ans")
    (ex,) = load_examples(get_task("casehold"), DataSource(str(p), fm), "tr-")
    assert ex.choices == ("a", "b", "c", "d", "e") and ex.label == "3"


def test_local_jsonl_errors(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"sentence": "hi", "label": 1}\n', encoding="utf-8")
    with pytest.raises(L2GError, match="no field 'text'"):
        load_examples(get_task("sst2"), DataSource(str(p)), "x-")
    p.write_text('{"text": "hi", "label": 7}\n', encoding="utf-8")
    with pytest.raises(L2GError, match="not valid for task sst2"):
        load_examples(get_task("sst2"), DataSource(str(p)), "x-")
    p.write_text("{broken\n", encoding="utf-8")
    with pytest.raises(L2GError, match="not valid JSON"):
        load_examples(get_task("sst2"), DataSource(str(p)), "x-")
    with pytest.raises(L2GError, match="does not exist"):
        load_examples(get_task("sst2"), DataSource(str(tmp_path / "nope.jsonl")), "x-")
    with pytest.raises(L2GError, match="bad field mapping"):
        FieldMap.parse("text")


def test_hugging_face_id_offline_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    import datasets
    # the flags are read at import time; if another test imported the libraries first, set them
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(L2GError, match="cannot load Hugging Face dataset 'stanfordnlp/sst2'.*OFFLINE"):
        load_examples(get_task("sst2"), DataSource("hf:stanfordnlp/sst2@validation", FieldMap.parse("text=sentence")), "x-")
