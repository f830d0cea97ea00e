"""Judge configs, validated with pydantic and versioned by content hash.

A judge is identified by the hash of its config together with its template's hash, so changing a
prompt template (even under the same file name) makes a new judge whose judgments are kept apart
and can be compared with the old ones. Settings that change how a judge runs but not what it
answers (device, timeouts, retries, concurrency, the name of the API key's variable) are left out
of the hash.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from annotate.errors import ConfigError
from annotate.hashing import stable_hash
from annotate.judges.templates import Template, load_template

RUNTIME_FIELDS = {"device", "timeout_s", "max_retries", "backoff_s", "concurrency", "api_key_env"}
DEFAULT_TEMPLATES = {"pairwise": "mt-bench-pairwise", "rubric": "prometheus-rubric"}


class JudgeConfig(BaseModel):
    """What a judge is: a backend, a model and (for LLM judges) a prompt template.

    Backends: 'reward_model' (a local AutoModelForSequenceClassification folder or hub id),
    'causal_lm' (a local causal LM folder or hub id), 'openai' (an OpenAI-compatible chat
    completions endpoint: vLLM, llama.cpp server, Ollama, hosted APIs), 'external' (judgments
    imported from files; cannot be run).
    """
    name: str = Field(min_length=1)
    backend: Literal["reward_model", "causal_lm", "openai", "external"]
    model: str = Field(default="", description="model folder, hub id, or the endpoint's model name")
    template: str | None = Field(default=None, description="shipped template name or a template file path")
    mode: Literal["auto", "logits", "generate"] = Field(
        default="auto", description="causal_lm: verdict from next-token probabilities (logits), from "
                                    "generated text (generate), or logits when every verdict is one token (auto)")
    max_new_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.0, ge=0)
    tie_band: float = Field(default=0.0, ge=0, description="reward_model: Rao-Kupper tie threshold, reward units")
    reward_scale: float = Field(default=1.0, gt=0, description="reward_model: rewards are divided by this")
    max_length: int | None = Field(default=None, ge=8, description="truncate inputs to this many tokens")
    base_url: str = Field(default="http://127.0.0.1:8000/v1", description="openai: the endpoint's /v1 URL")
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*(API_KEY|TOKEN)$",
                                    description="openai: environment variable holding the API key; its "
                                                "name must end in API_KEY or TOKEN, so that a judge "
                                                "config cannot send any other server secret to an endpoint")
    top_logprobs: int = Field(default=10, ge=0, le=20, description="openai: 0 to not ask for logprobs")
    max_parse_retries: int = Field(default=0, ge=0, description="openai: ask again when a reply does not parse")
    cost_per_1k_prompt_tokens: float | None = Field(default=None, ge=0)
    cost_per_1k_completion_tokens: float | None = Field(default=None, ge=0)
    device: str = Field(default="auto", description="torch device; 'auto' picks cuda when available")
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_s: float = Field(default=1.0, ge=0, description="first retry delay; doubles each retry")
    concurrency: int = Field(default=4, ge=1, description="openai: requests in flight at once")

    @model_validator(mode="after")
    def _check(self) -> "JudgeConfig":
        if self.backend in ("reward_model", "causal_lm", "openai") and not self.model.strip():
            raise ValueError(f"the {self.backend} backend needs 'model' (a folder, hub id or model name)")
        return self

    def load_template(self, task_type: str) -> Template | None:
        """The prompt template for a project of `task_type` (None for reward models and external).

        Raises:
            ConfigError: the template is missing, invalid, or made for the other task type.
        """
        if self.backend in ("reward_model", "external"):
            return None
        template = load_template(self.template or DEFAULT_TEMPLATES[task_type])
        if template.task_type != task_type:
            raise ConfigError(f"Judge '{self.name}': template '{template.name}' is for {template.task_type} "
                              f"projects, not {task_type}")
        return template

    def content_hash(self, template: Template | None) -> str:
        """The judge's identity: hash of the config (less runtime settings) and the template's hash."""
        content = self.model_dump(exclude=RUNTIME_FIELDS)
        return stable_hash({"config": content, "template_hash": template.hash if template else None})


def parse_judge_config(data: dict | str | Path, where: str = "judge config") -> JudgeConfig:
    """Validate a judge config given as a dict, JSON text, or the path of a JSON file.

    Raises:
        ConfigError: naming the file and each invalid field.
    """
    try:
        if isinstance(data, Path):
            where = str(data)
            data = data.read_text(encoding="utf-8")
        raw = json.loads(data) if isinstance(data, str) else data
        return JudgeConfig.model_validate(raw)
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where} line {exc.lineno}: invalid JSON ({exc.msg})") from None
    except ValidationError as exc:
        fields = "; ".join(f"field '{'.'.join(map(str, e['loc'])) or '(root)'}': {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: {fields}") from None
