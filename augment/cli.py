"""``l2g augment`` (the LLM2LLM loop) and ``l2g teacher serve`` (a local OpenAI-compatible
teacher).  Registration is cheap; torch/transformers are imported inside the handlers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from l2g.augment.tasks import TASKS  # pure Python: cheap enough for registration
from l2g.errors import L2GError

TASK_NAMES = tuple(TASKS)  # a task added to the registry is a valid --task at once


def register(subparsers) -> None:
    _register_augment(subparsers)
    _register_teacher(subparsers)


def _register_augment(subparsers) -> None:
    p = subparsers.add_parser(
        "augment",
        help="grow a task's training data with a teacher LLM (LLM2LLM) and fine-tune a student",
        description="LLM2LLM: each iteration fine-tunes the student from the base weights on the seed "
        "plus all accepted teacher examples, evaluates it on the seed examples, and asks the teacher "
        "for new examples like each seed example it got wrong.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_run_arguments(p)
    p.add_argument("-o", "--output", required=True, type=Path, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in the run directory")
    p.set_defaults(func=_cmd_augment)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The options of an LLM2LLM run: task, seed, data, teacher, ablations, student.  Shared by
    `l2g augment` and `l2g pipeline`, so that both spell every option the same way."""
    p.add_argument("--task", choices=TASK_NAMES, help="task (required for a new run)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seed-size", type=int, help="number of seed examples drawn from the training pool")
    g.add_argument("--seed-fraction", type=float, help="fraction of the training pool used as seed")
    p.add_argument("--seed", type=int, default=0, help="random seed for seed selection and training")
    p.add_argument("--iterations", type=int, default=None, help="augmentation rounds (default 3; on --resume, the saved value)")
    d = p.add_argument_group("data")
    d.add_argument("--data-dir", type=Path, help="folder of <task>/{train,test}.jsonl (default: $L2G_DATA_DIR or ../shared/data)")
    d.add_argument("--train-file", help="training pool: a .jsonl/.json/.csv/.tsv file or hf:DATASET_ID@SPLIT")
    d.add_argument("--test-file", help="test set: a .jsonl/.json/.csv/.tsv file or hf:DATASET_ID@SPLIT")
    d.add_argument("--fields", help="field mapping for --train-file/--test-file, e.g. text=sentence,label=label "
                   "(multiple choice: choices=c0|c1|c2|c3|c4 or a list field)")
    d.add_argument("--hf-config", help="Hugging Face dataset config name")
    d.add_argument("--test-size", type=int, help="evaluate on a random subset of this many test examples")
    t = p.add_argument_group("teacher")
    t.add_argument("--teacher-base-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    t.add_argument("--teacher-model", help="teacher model name")
    t.add_argument("--teacher-api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    t.add_argument("--temperature", type=float, default=1.0)
    t.add_argument("--teacher-max-tokens", type=int, default=1024)
    t.add_argument("--teacher-timeout", type=float, default=60.0, help="seconds per request")
    t.add_argument("--teacher-retries", type=int, default=4, help="retries on 429/5xx/timeouts (exponential backoff)")
    t.add_argument("--teacher-backoff", type=float, default=1.0, help="first backoff in seconds (doubles per retry)")
    t.add_argument("--teacher-concurrency", type=int, default=4, help="concurrent teacher requests")
    t.add_argument("--per-example", type=int, default=1, help="new examples requested per source seed example")
    t.add_argument("--dedup-threshold", type=float, default=0.95, help="drop candidates with ROUGE-L above this vs existing data")
    a = p.add_argument_group("ablations")
    a.add_argument("--augment-all", action="store_true", help="augment every seed example, not only the wrong ones")
    a.add_argument("--seed-only", action="store_true", help="baseline: train on the seed only, no teacher")
    s = p.add_argument_group("student")
    s.add_argument("--student", type=Path, help="base model dir (default: bundled all-MiniLM-L6-v2; gsm8k needs a causal LM)")
    s.add_argument("--epochs", type=int, default=3)
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-3 encoders, 2e-4 causal LMs)")
    s.add_argument("--weight-decay", type=float, default=0.01)
    s.add_argument("--max-len", type=int, default=128, help="max tokens per input")
    s.add_argument("--lora-r", type=int, default=8)
    s.add_argument("--lora-alpha", type=int, default=16)
    s.add_argument("--lora-dropout", type=float, default=0.1)
    s.add_argument("--lora-target-modules", help="comma-separated module names (default: peft's choice per architecture)")
    s.add_argument("--eval-batch-size", type=int, default=64)
    s.add_argument("--gen-max-new-tokens", type=int, default=256, help="gsm8k: tokens generated per answer at evaluation")
    s.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def _register_teacher(subparsers) -> None:
    p = subparsers.add_parser("teacher", help="teacher utilities (a local OpenAI-compatible server)")
    sub = p.add_subparsers(dest="teacher_command", metavar="SUBCOMMAND")
    s = sub.add_parser(
        "serve",
        help="serve a local causal LM as an OpenAI-compatible /v1/chat/completions endpoint",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    s.add_argument("--model", required=True, type=Path, help="Hugging Face causal LM directory")
    s.add_argument("--name", help="model name reported by /v1/models (default: the directory name)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    s.add_argument("--device", default="cpu")
    s.add_argument("--max-tokens", type=int, default=512, help="default max_tokens when a request gives none")
    s.set_defaults(func=_cmd_serve)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _train_config(args):
    from l2g.augment.student import TrainConfig

    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        max_len=args.max_len,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_target_modules=tuple(m.strip() for m in args.lora_target_modules.split(",")) if args.lora_target_modules else None,
        seed=args.seed,
        eval_batch_size=args.eval_batch_size,
        gen_max_new_tokens=args.gen_max_new_tokens,
        threads=args.threads,
    )


def teacher_config(args, required: bool):
    from l2g.augment.teacher import TeacherConfig

    if not args.teacher_base_url or not args.teacher_model:
        if required:
            raise L2GError("a teacher is needed: pass --teacher-base-url and --teacher-model (or --seed-only)")
        return None
    return TeacherConfig(
        base_url=args.teacher_base_url,
        model=args.teacher_model,
        api_key_env=args.teacher_api_key_env,
        temperature=args.temperature,
        max_tokens=args.teacher_max_tokens,
        timeout_s=args.teacher_timeout,
        max_retries=args.teacher_retries,
        backoff_s=args.teacher_backoff,
        concurrency=args.teacher_concurrency,
    )


def _cmd_augment(args) -> int:
    from l2g.augment import loop, report

    if args.resume:
        overrides: dict = {}
        tcfg = teacher_config(args, required=False)
        if tcfg is not None:
            overrides["teacher"] = tcfg
        if args.iterations is not None:
            overrides["iterations"] = args.iterations
        state, seed, test = loop.start_or_resume(args.output, None, True, overrides)
        if state.config.rounds + 1 < len(state.iterations):
            raise L2GError(f"the run already finished {len(state.iterations) - 1} iterations; --iterations cannot go below that")
        if loop.needs_teacher(state):
            loop.check_teacher(state.config.teacher, args.output)
        print(f"resuming {args.output}: {len(state.iterations)} iteration(s) recorded, "
              f"{len(state.augmented)} augmented examples", file=sys.stderr)
    else:
        cfg = new_run_config(args, args.output)
        state, seed, test = loop.start_or_resume(args.output, cfg, False)
        print(f"new run {args.output}: task {cfg.task}, {len(seed)} seed examples, {len(test)} test examples"
              + (f" ({state.note})" if state.note else ""), file=sys.stderr)

    def on_iteration(st):
        report.write_report(args.output, st)

    state = loop.run_loop(args.output, state, seed, test, on_iteration=on_iteration,
                          log=lambda m: print(m, file=sys.stderr))
    report.write_report(args.output, state)
    print(report.format_table(state))
    print(f"\nreport: {args.output / 'report.md'}  plot: {args.output / 'accuracy.png'}  "
          f"student: {args.output / 'student'}")
    return 0


def new_run_config(args, run_dir: Path):
    """The :class:`~l2g.augment.loop.RunConfig` of a new run from the options of
    :func:`add_run_arguments`, checked (a reachable teacher included) before any work starts."""
    from l2g.augment import loop

    if not args.task:
        raise L2GError("--task is required for a new run")
    if args.seed_size is None and args.seed_fraction is None:
        raise L2GError("give --seed-size N or --seed-fraction F")
    iterations = 3 if args.iterations is None else args.iterations
    if iterations < 0:
        raise L2GError("--iterations must be >= 0")
    if args.per_example < 1:
        raise L2GError("--per-example must be >= 1")
    tcfg = teacher_config(args, required=not args.seed_only and iterations > 0)
    if args.student:
        student = str(args.student.resolve())
    elif args.task == "gsm8k":
        raise L2GError("gsm8k needs a causal LM student: pass --student DIR (a Hugging Face causal LM)")
    else:
        from l2g.augment.student import default_student_path

        student = str(default_student_path())
    cfg = loop.RunConfig(
        task=args.task,
        student=student,
        iterations=iterations,
        seed_size=args.seed_size,
        seed_fraction=args.seed_fraction,
        seed=args.seed,
        per_example=args.per_example,
        augment_all=args.augment_all,
        seed_only=args.seed_only,
        dedup_threshold=args.dedup_threshold,
        train=_train_config(args),
        teacher=tcfg,
        data_dir=str(args.data_dir) if args.data_dir else None,
        train_file=args.train_file,
        test_file=args.test_file,
        fields=args.fields,
        hf_config=args.hf_config,
        test_size=args.test_size,
    )
    if cfg.rounds > 0:  # last: the cheap checks above answer first
        loop.check_teacher(tcfg, run_dir)
    return cfg


def _cmd_serve(args) -> int:
    from l2g.augment.serve import LocalChatModel, make_server

    backend = LocalChatModel.load(args.model, args.name, args.device)
    srv = make_server(backend, args.host, args.port, args.max_tokens)
    host, port = srv.server_address[:2]
    print(f"serving {backend.name} on http://{host}:{port}/v1 (Ctrl-C to stop)", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m l2g.augment.cli``) with only these commands; the real
    entry point is ``l2g``."""
    from l2g.cli import main as l2g_main

    try:
        import l2g.cli as top

        top.build_parser()
    except ImportError:
        # another area's command module is missing in this checkout: serve ours alone
        parser = argparse.ArgumentParser(prog="l2g")
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        register(sub)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        try:
            return int(args.func(args) or 0)
        except L2GError as exc:
            print(f"l2g {args.command}: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            return 130
    return l2g_main(argv)


if __name__ == "__main__":
    sys.exit(main())
