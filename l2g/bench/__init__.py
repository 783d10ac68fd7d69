"""``l2g bench``: benchmark suites on Spike + Gemmini, their JSON results, plots, report and
regression gate.  Modules: schema (result records), suites (points and how each is
measured), classify (op classes of the breakdown), runner (processes or Ray), compare
(the gate), plots, report, host (pytest-benchmark), cli.  See docs/benchmarks.md."""
