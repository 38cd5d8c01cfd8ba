"""The physai benchmark: parallel, reproducible evaluation with confidence intervals and reports."""

from physai.evaluate.compare import compare_results
from physai.evaluate.metrics import suite_score, two_proportion_test, wilson_interval
from physai.evaluate.results import SCHEMA, load_results, validate_results
from physai.evaluate.runner import EvalConfig, run_eval
from physai.evaluate.seeding import episode_seed

__all__ = ["SCHEMA", "EvalConfig", "compare_results", "episode_seed", "load_results", "run_eval",
           "suite_score", "two_proportion_test", "validate_results", "wilson_interval"]
