"""Judge configs, validated with pydantic and versioned by content hash.

A judge is identified by the hash of its config together with its template's hash, so changing a
prompt template (even under the same file name) makes a new judge whose judgments are kept apart
and can be compared with the old ones. Settings that change how a judge runs but not what it
answers (device, timeouts, retries, concurrency) are left out of the hash.

A judge config never holds a URL, a file path or the name of an environment variable: an openai
judge names one of the operator's endpoints (`annotate.judges.endpoints`) and a template is named
from the shipped set or the operator's template folder (`annotate.judges.templates`), so that whoever
may register a judge cannot send server secrets to a host of their choice or probe the server's files.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from annotate.errors import ConfigError
from annotate.hashing import stable_hash
from annotate.judges.templates import TEMPLATE_NAME_PATTERN, Template, load_template, template_names

RUNTIME_FIELDS = {"device", "timeout_s", "max_retries", "backoff_s", "concurrency"}
OPERATOR_FIELDS = ("base_url", "api_key_env")  # set per endpoint by the operator, never in a judge config
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
    template: str | None = Field(default=None, description="a template name: shipped, or from the operator's "
                                                           "template folder")
    mode: Literal["auto", "logits", "generate"] = Field(
        default="auto", description="causal_lm: verdict from next-token probabilities (logits), from "
                                    "generated text (generate), or logits when every verdict is one token (auto)")
    max_new_tokens: int = Field(default=512, ge=1)
    temperature: float = Field(default=0.0, ge=0)
    tie_band: float = Field(default=0.0, ge=0, description="reward_model: Rao-Kupper tie threshold, reward units")
    reward_scale: float = Field(default=1.0, gt=0, description="reward_model: rewards are divided by this")
    max_length: int | None = Field(default=None, ge=8, description="truncate inputs to this many tokens")
    endpoint: str | None = Field(default=None, description="openai: the name of an endpoint on the operator's list")
    top_logprobs: int = Field(default=10, ge=0, le=20, description="openai: 0 to not ask for logprobs")
    max_parse_retries: int = Field(default=0, ge=0, description="openai: ask again when a reply does not parse")
    cost_per_1k_prompt_tokens: float | None = Field(default=None, ge=0)
    cost_per_1k_completion_tokens: float | None = Field(default=None, ge=0)
    device: str = Field(default="auto", description="torch device; 'auto' picks cuda when available")
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_s: float = Field(default=1.0, ge=0, description="first retry delay; doubles each retry")
    concurrency: int = Field(default=4, ge=1, description="openai: requests in flight at once")

    @field_validator("template")
    @classmethod
    def _template_is_a_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(TEMPLATE_NAME_PATTERN, value):
            raise ValueError(f"a template is given by name ({', '.join(template_names())}), not by path")
        return value

    @model_validator(mode="before")
    @classmethod
    def _refuse_operator_fields(cls, data: object) -> object:
        if isinstance(data, dict):
            given = [f for f in OPERATOR_FIELDS if f in data]
            if given:
                raise ValueError(f"{' and '.join(repr(f) for f in given)} cannot be set in a judge config: the "
                                 f"operator binds URLs and API keys to named endpoints; set 'endpoint' to one "
                                 f"of their names instead")
        return data

    @model_validator(mode="after")
    def _check(self) -> "JudgeConfig":
        if self.backend in ("reward_model", "causal_lm", "openai") and not self.model.strip():
            raise ValueError(f"the {self.backend} backend needs 'model' (a folder, hub id or model name)")
        if self.backend == "openai" and not self.endpoint:
            raise ValueError("the openai backend needs 'endpoint': the name of an endpoint the operator allows")
        return self

    @classmethod
    def from_stored(cls, config_json: str) -> "JudgeConfig":
        """A config as stored with a registered judge; configs stored before endpoints were named
        by the operator lose their own URL and key variable (such a judge must name an endpoint)."""
        data = json.loads(config_json)
        for field in OPERATOR_FIELDS:
            data.pop(field, None)
        if data.get("backend") == "openai" and not data.get("endpoint"):
            raise ConfigError(f"Judge '{data.get('name')}' was registered with its own URL, which is no longer "
                              f"allowed: register it again with one of the operator's endpoints")
        return cls.model_validate(data)

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
