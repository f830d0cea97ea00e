"""Loading transformers models and tokenizers for the local backends (imported only when used)."""
from __future__ import annotations

import os
from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from annotate.errors import ConfigError
from annotate.judges.config import JudgeConfig


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_pretrained(config: JudgeConfig, model_class: Any, padding_side: str) -> tuple[Any, PreTrainedTokenizerBase]:
    """Load (model in eval mode on its device, tokenizer) from a folder or a hub id.

    A tokenizer without a pad token pads with its end-of-sequence token.

    Raises:
        ConfigError: the model cannot be loaded; the message names the judge and the model.
    """
    try:
        tokenizer = AutoTokenizer.from_pretrained(config.model)
        model = model_class.from_pretrained(config.model)
    except (OSError, ValueError) as exc:
        offline = " (HF_HUB_OFFLINE is set: give a local folder)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
        raise ConfigError(f"Judge '{config.name}': cannot load model '{config.model}'{offline}: {exc}") from None
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(f"Judge '{config.name}': tokenizer of '{config.model}' has no pad or eos token")
        tokenizer.pad_token = tokenizer.eos_token
    model.to(resolve_device(config.device)).eval()
    return model, tokenizer


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def chat_text(tokenizer: PreTrainedTokenizerBase, messages: list[dict], add_generation_prompt: bool) -> str:
    """The messages in the model's chat template; without one, the contents joined by blank lines
    (a plain-text prompt for base models)."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
    return "\n\n".join(m["content"] for m in messages) + "\n\n"


def encode(tokenizer: PreTrainedTokenizerBase, texts: list[str], config: JudgeConfig, device: torch.device,
           pairs: list[str] | None = None) -> dict:
    """Tokenize a batch with padding (and truncation to config.max_length); the chat template
    already holds the special tokens, so they are added only for plain text. Truncation cuts the
    start of a prompt, never its end, where the answer cue (e.g. '[[') stands."""
    tokenizer.truncation_side = "left"
    encoded = tokenizer(texts, pairs, return_tensors="pt", padding=True,
                        truncation=config.max_length is not None, max_length=config.max_length,
                        add_special_tokens=not has_chat_template(tokenizer))
    return {k: v.to(device) for k, v in encoded.items()}
