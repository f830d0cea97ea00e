"""Tiny random transformers models for tests, benchmarks and trying the pipeline offline.

`build_tiny_models(folder)` trains a word-level tokenizer on the shipped templates plus the given
texts (so the verdict tokens "A", "B", "C" and the digits are single tokens), gives it a chat
template, and saves a BERT-like reward model (one output) and a Llama-like causal LM of a few
hundred KB next to it. Their verdicts are random but well-formed: they exercise every step from
prompt to stored judgment without a download.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM,
                          PreTrainedTokenizerFast)

from annotate.judges.templates import TEMPLATE_DIR

SPECIAL_TOKENS = ["[UNK]", "[PAD]", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} </s> {% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|> {% endif %}")
BASE_WORDS = "A B C tie 0 1 2 3 4 5 6 7 8 9 [[ ]] [ ] RESULT Feedback : . , ? ! the a is answer question"


def build_tokenizer(texts: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """A word-level tokenizer (whitespace and punctuation split) trained on the templates and `texts`."""
    corpus = [BASE_WORDS, *(p.read_text(encoding="utf-8") for p in sorted(TEMPLATE_DIR.glob("*.json"))), *texts]
    backend = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                        bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_models(folder: str | Path, texts: Iterable[str] = (), seed: int = 0,
                      hidden_size: int = 32, layers: int = 2) -> dict[str, Path]:
    """Save a tiny reward model and causal LM under `folder`; return {'reward_model': path, 'causal_lm': path}."""
    folder = Path(folder)
    tokenizer = build_tokenizer(texts)
    special = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
               "eos_token_id": tokenizer.eos_token_id}
    torch.manual_seed(seed)
    reward = BertForSequenceClassification(BertConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=2 * hidden_size, max_position_embeddings=1024, num_labels=1, **special))
    causal = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        **special))
    paths = {"reward_model": folder / "reward_model", "causal_lm": folder / "causal_lm"}
    for model, path in ((reward, paths["reward_model"]), (causal, paths["causal_lm"])):
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return paths
