"""AI judges: reward models, LLM-as-judge (local causal LMs or OpenAI-compatible endpoints) and
judgments imported from files, all stored as canonical, order-balanced verdicts with probabilities.

A judge is a config (config.py) + a prompt template (templates.py, data files in templates/) + a
backend (reward_model.py, causal_lm.py, openai_http.py) + a parser (parsing.py); runs.py runs it
over a project. Backends import transformers or httpx only when built.
"""
from annotate.judges.config import JudgeConfig, parse_judge_config
from annotate.judges.runs import (RunReport, cancel_run, get_run, judge_config, list_judges, list_runs, make_judge,
                                  mark_interrupted_runs, register_judge, resume_run, run_judge,
                                  start_background_run)

__all__ = ["JudgeConfig", "RunReport", "cancel_run", "get_run", "judge_config", "list_judges", "list_runs",
           "make_judge", "mark_interrupted_runs", "parse_judge_config", "register_judge", "resume_run", "run_judge",
           "start_background_run"]
