"""Where the model and tokenizer come from, checked before and after transformers loads them.

transformers reports a missing weight file or an unreachable Hub through several layers
of tracebacks, and accepts some broken folders without a word: a folder without tokenizer
files loads a tokenizer of special tokens only (every word becomes [UNK], training still
"works"), and ``ignore_mismatched_sizes`` re-initialises any tensor whose shape disagrees
with the config. These checks turn each case into one line that names the folder or id,
what was expected, and the option that changes it.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any, Iterable

import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from pytest_finetune.config.options import OPTIONS_BY_DEST, looks_like_path
from pytest_finetune.errors import ModelError
from pytest_finetune.mrpc.sources import (CODE_MODELS, MODEL_HINT, TINY_RANDOM_BERT, TINY_RANDOM_GPT2,
                                          TOKENIZER_FILES, WEIGHT_FILES,
                                          default_model_path, hub_reachable)

# Keys of a sequence classifier's own head are named after these (outside the base model).
HEAD_PREFIXES = ("classifier.", "score.", "pre_classifier.", "logits_proj.", "out_proj.")
_SHOWN_KEYS = 4
_MESSAGE_CHARS = 300
# A tensor of a numbered transformer block (BERT's layer.N, GPT-2's h.N, T5's block.N, Llama's
# layers.N): unexpected in the checkpoint, it means the config builds fewer layers than were
# trained, and transformers drops them without an error. Other unexpected tensors (a
# pretraining head, RoBERTa's unused pooler) are normal and ignored.
_NUMBERED_BLOCK = re.compile(r"(^|\.)(layer|layers|h|block|blocks)\.\d+\.")
# A model's tokenizer fills its embedding matrix up to padding to a round size: 98-100 % for
# GPT-2, BERT, RoBERTa, T5, Llama, Qwen, Phi. Another model's tokenizer rarely does (BERT's
# 30,522 tokens are 61 % of RoBERTa's 50,265 rows); a tokenizer with more tokens than rows is
# refused outright.
MIN_VOCAB_COVERAGE = 0.9
# What transformers sets model_max_length to when tokenizer_config.json does not (int(1e30)).
UNDECLARED_LENGTH = 10 ** 29
# MRPC is single-label classification; a config that says otherwise picks another loss.
PROBLEM_TYPES = (None, "single_label_classification")


def library_message(exc: BaseException) -> str:
    """The first non-empty line of a library's error, trimmed: a ModelError is one line.

    transformers' messages run to several lines (a report, a hint, a URL); the first says
    what went wrong, which is what a CI log line needs.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    if len(text) > _MESSAGE_CHARS:
        text = text[:_MESSAGE_CHARS].rstrip() + "..."
    return f"{type(exc).__name__}: {text}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelError(f"{path}: unreadable {path.name} ({library_message(exc)})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object in {path.name}, found {type(data).__name__}")
    return data


def _check_folder(folder: Path) -> None:
    config = folder / "config.json"
    if not config.is_file():
        raise ModelError(f"model folder {folder}: no config.json; expected a Hugging Face "
                         "model folder (config.json, weights, tokenizer files)")
    _read_json(config)
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise ModelError(f"model folder {folder}: no weights; expected one of "
                         f"{', '.join(WEIGHT_FILES)}")


def resolve_model(name: str | Path | None) -> str:
    """A local folder path (checked), a Hub id usable now, or a ModelError saying what to pass."""
    if name is None or str(name) == "":
        return str(default_model_path())
    name = str(name)
    if name in CODE_MODELS:
        return name
    folder = Path(name).expanduser()
    if folder.is_dir():
        _check_folder(folder)
        return str(folder)
    if folder.exists():
        raise ModelError(f"model folder {folder} is a file; {MODEL_HINT}")
    if looks_like_path(name):
        raise ModelError(f"model folder {folder} does not exist; {MODEL_HINT}")
    if hub_reachable():
        return name
    try:  # a snapshot in the local HF cache works offline
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception:
        raise ModelError(f"model {name!r}: the Hugging Face Hub is unreachable and it is not in "
                         f"the local cache; {MODEL_HINT}") from None


def _remote_code_error(path: str, where: list[str]) -> ModelError:
    option = OPTIONS_BY_DEST["trust_remote_code"]
    verb = "names" if len(where) == 1 else "name"
    return ModelError(f"model {path}: {' and '.join(where)} {verb} custom code (auto_map) that "
                      f"pytest-finetune does not run unless you allow it with {option.describe()}")


def _refuse_remote_code(path: str, trust_remote_code: bool, config: Any = None) -> None:
    """A model that ships its own Python code (``auto_map``) runs it only when trusted.

    transformers asks on the terminal (and waits) when ``trust_remote_code`` is left unset,
    and runs the code on "y"; a test session must never prompt, so the answer is always
    given, and it is "no" unless the user passed the option. A local folder is read before
    transformers sees it; a Hub model's config is checked once loaded (without its code).
    """
    if trust_remote_code:
        return
    where = []
    folder = Path(path)
    if folder.is_dir():
        for name in ("config.json", "tokenizer_config.json"):
            if (folder / name).is_file() and "auto_map" in _read_json(folder / name):
                where.append(name)
    elif config is not None and getattr(config, "auto_map", None):
        where.append("config.json")
    if where:
        raise _remote_code_error(path, where)


def _cannot_load(what: str, path: str, exc: Exception, trust_remote_code: bool) -> ModelError:
    """One line for a library error; transformers' own refusal of custom code names our option."""
    if not trust_remote_code and "trust_remote_code" in str(exc):
        return _remote_code_error(path, ["its repository"])
    return ModelError(f"{what} of {path}: cannot load ({library_message(exc)})")


def _load_config(path: str, trust_remote_code: bool, **kwargs: Any) -> Any:
    _refuse_remote_code(path, trust_remote_code)
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
    except Exception as exc:
        raise _cannot_load("config", path, exc, trust_remote_code) from None
    _refuse_remote_code(path, trust_remote_code, config)
    return config


def _check_vocabulary(path: str, tokenizer: PreTrainedTokenizerBase, config: Any) -> None:
    """The tokenizer has real words, and no id beyond the model's embedding matrix."""
    size = len(tokenizer)
    words = size - len(set(tokenizer.all_special_ids))
    if words < 1:
        raise ModelError(f"tokenizer of {path} has {size} tokens, all special: its vocabulary "
                         "files are missing or empty; expected tokenizer.json or vocab.txt etc. "
                         "with the model's vocabulary")
    vocab_size = getattr(config, "vocab_size", None)
    if not isinstance(vocab_size, int) or vocab_size < 1:
        return  # composite configs keep it elsewhere; the embedding lookup would then fail loudly
    if size > vocab_size:
        raise ModelError(f"tokenizer of {path} has {size} tokens but the model's embedding matrix "
                         f"has {vocab_size} rows (config.json vocab_size): ids {vocab_size}.."
                         f"{size - 1} would index past it; the tokenizer belongs to another model")
    if size < vocab_size * MIN_VOCAB_COVERAGE:
        raise ModelError(f"tokenizer of {path} has {size} tokens but the model has {vocab_size} "
                         "embedding rows (config.json vocab_size); expected the model's own "
                         f"tokenizer (at least {MIN_VOCAB_COVERAGE:.0%} of vocab_size); wrong or "
                         "partial tokenizer files?")


class TokenizerLengthWarning(UserWarning):
    """The tokenizer's declared length limit is more than the model can embed."""


def _bound_to_positions(tokenizer: PreTrainedTokenizerBase, config: Any, path: Any) -> None:
    """A tokenizer truncates to what the model can embed.

    Without ``model_max_length`` in tokenizer_config.json, ``truncation=True`` cuts nothing,
    and a pair longer than ``max_position_embeddings`` fails mid-training with an index
    error deep in the embeddings. Two positions are kept back for the models (RoBERTa and
    kin) whose position ids start after the padding index. A declared limit within the
    positions is left as is; one beyond them is the same crash waiting for a long pair, so
    it is bounded too, with a warning naming both files (the folder contradicts itself, and
    refusing it would refuse runs whose pairs all fit).
    """
    positions = getattr(config, "max_position_embeddings", None)
    if not (isinstance(positions, int) and positions > 2):
        return
    declared = tokenizer.model_max_length
    if declared < UNDECLARED_LENGTH and declared > positions:
        warnings.warn(TokenizerLengthWarning(
            f"pytest-finetune: tokenizer of {path} declares model_max_length {declared} "
            f"(tokenizer_config.json) but the model has {positions} positions (config.json "
            f"max_position_embeddings): a longer pair would index past them mid-run, so pairs are cut "
            f"to {positions - 2} tokens; expected model_max_length <= {positions}"), stacklevel=3)
    if declared > positions:
        tokenizer.model_max_length = positions - 2


def load_tokenizer(name: str | Path | None, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The fast tokenizer; the models built in code share the embedded model's WordPiece vocab."""
    path = resolve_model(None if name in CODE_MODELS else name)
    folder = Path(path)
    if folder.is_dir() and not any((folder / file).is_file() for file in TOKENIZER_FILES):
        raise ModelError(f"model folder {folder}: no tokenizer files; expected one of "
                         f"{', '.join(TOKENIZER_FILES)} (save the tokenizer with the model: "
                         "tokenizer.save_pretrained(folder))")
    config = _load_config(path, trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise _cannot_load("tokenizer", path, exc, trust_remote_code) from None
    _check_vocabulary(path, tokenizer, config)
    _bound_to_positions(tokenizer, config, path)
    if tokenizer.pad_token is None:
        raise ModelError(f"tokenizer of {path} has no pad token, so batches cannot be padded; "
                         "set one (e.g. tokenizer.pad_token = tokenizer.eos_token) or use a model "
                         "whose tokenizer defines [PAD]")
    stored_pad = getattr(config, "pad_token_id", None)
    if isinstance(stored_pad, int) and stored_pad != tokenizer.pad_token_id:
        # The model finds pads by this id (RoBERTa's position ids, GPT-2's last real token):
        # another id in the batches silently moves positions or picks the wrong token.
        raise ModelError(f"tokenizer of {path} pads with id {tokenizer.pad_token_id} "
                         f"({tokenizer.pad_token!r}) but config.json has pad_token_id {stored_pad}; "
                         "expected the same id (fix pad_token_id or the tokenizer's pad token)")
    return tokenizer


def tiny_random_bert(vocab_size: int = 30522, num_labels: int = 2, **overrides: Any) -> BertForSequenceClassification:
    """A 2-layer, 64-wide BERT with the real vocab: the fastest model that still trains."""
    config = BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, num_labels=num_labels,
                        **overrides)
    return BertForSequenceClassification(config)


def _is_head(key: str, base_prefix: str) -> bool:
    """A parameter of the classification head: outside the base model (``bert.`` etc.)."""
    if base_prefix:
        return not key.startswith(base_prefix + ".")
    return key.startswith(HEAD_PREFIXES)


def _names(keys: Iterable[Any]) -> list[str]:
    """Key names from loading info: 4.x gives names, 5.x (name, stored shape, model shape)."""
    return sorted(key[0] if isinstance(key, tuple) else str(key) for key in keys)


def _shown(keys: list[str]) -> str:
    more = f" and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else ""
    return ", ".join(keys[:_SHOWN_KEYS]) + more


def _check_loading_info(path: str, model: PreTrainedModel, info: dict[str, Any]) -> None:
    """Only the classification head may be drawn fresh; any other weight must come from the file."""
    prefix = getattr(model, "base_model_prefix", "") or ""
    mismatched = [k for k in _names(info.get("mismatched_keys", ())) if not _is_head(k, prefix)]
    if mismatched:
        raise ModelError(f"weights of {path}: {len(mismatched)} tensor(s) have other shapes than "
                         f"config.json describes ({_shown(mismatched)}); expected a checkpoint "
                         "saved with this config")
    extra_blocks = [k for k in _names(info.get("unexpected_keys", ())) if _NUMBERED_BLOCK.search(k)]
    if extra_blocks:
        raise ModelError(f"weights of {path}: the checkpoint has {len(extra_blocks)} tensor(s) of "
                         f"layers the model built from config.json does not have ({_shown(extra_blocks)}); "
                         "expected config.json's layer count to match the checkpoint")
    missing = [k for k in _names(info.get("missing_keys", ())) if not _is_head(k, prefix)]
    if missing:
        raise ModelError(f"weights of {path}: {len(missing)} tensor(s) of the model are not in "
                         f"the checkpoint ({_shown(missing)}); only a new classification head "
                         "may start from random weights")


def load_model(name: str | Path | None, num_labels: int = 2, trust_remote_code: bool = False,
               **overrides: Any) -> PreTrainedModel:
    """A sequence-classification model with a fresh ``num_labels`` head.

    ``overrides`` go to the config (e.g. dropout set to 0 for the runner-parity check).
    Call ``set_seed`` first: the new head's initial weights come from the global RNG.
    """
    if name == TINY_RANDOM_BERT:
        return tiny_random_bert(num_labels=num_labels, **overrides)
    if name == TINY_RANDOM_GPT2:
        raise ModelError(f"model {name} is a causal language model (the task mrpc-lm's); a classification "
                         "task needs a sequence classifier or a base model (e.g. tiny-random-bert)")
    path = resolve_model(name)
    stored = _load_config(path, trust_remote_code)
    config = _load_config(path, trust_remote_code, num_labels=num_labels, **overrides)
    problem = getattr(stored, "problem_type", None)
    if problem not in PROBLEM_TYPES:
        raise ModelError(f"model {path}: config.json has problem_type {problem!r}, which trains with "
                         "another loss; MRPC is single_label_classification (remove problem_type "
                         "or set it to that)")
    is_classifier = any("ForSequenceClassification" in a for a in stored.architectures or [])
    if is_classifier and stored.num_labels != num_labels:
        raise ModelError(f"model {path} is a classifier with num_labels={stored.num_labels} but the "
                         f"data has {num_labels} labels; pass a base model (no classification "
                         "head) or one trained with the same labels")
    try:
        # Mismatched sizes are allowed through so that the loading info names them; only
        # the head's are then accepted.
        model, info = AutoModelForSequenceClassification.from_pretrained(
            path, config=config, ignore_mismatched_sizes=True, output_loading_info=True,
            trust_remote_code=trust_remote_code,
        )
    except Exception as exc:
        raise _cannot_load("weights", path, exc, trust_remote_code) from None
    _check_loading_info(path, model, info)
    return model


# Dropout settings of causal LMs' configs (GPT-2, Llama, Mistral, Qwen, Phi, ...): a run's
# ``dropout`` sets whichever of them the config has.
DECODER_DROPOUT_FIELDS = ("resid_pdrop", "embd_pdrop", "attn_pdrop", "attention_dropout", "hidden_dropout",
                          "embd_dropout", "resid_dropout", "dropout")


def load_causal_lm(name: str | Path, trust_remote_code: bool = False, dropout: float | None = None,
                   **overrides: Any) -> PreTrainedModel:
    """A causal language model from a folder or Hub id, every weight from the checkpoint.

    ``dropout`` sets the config's dropout fields (``DECODER_DROPOUT_FIELDS``), ``overrides``
    other config fields (e.g. ``attn_implementation``).
    """
    from transformers import AutoModelForCausalLM

    path = resolve_model(name)
    stored = _load_config(path, trust_remote_code)
    if dropout is not None:
        overrides.update({field: dropout for field in DECODER_DROPOUT_FIELDS if hasattr(stored, field)})
    config = _load_config(path, trust_remote_code, **overrides)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(path, config=config, output_loading_info=True,
                                                           trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise _cannot_load("weights", path, exc, trust_remote_code) from None
    missing = [k for k in _names(info.get("missing_keys", ())) if "lm_head" not in k]
    if missing:
        raise ModelError(f"weights of {path}: {len(missing)} tensor(s) of the causal LM are not in the "
                         f"checkpoint ({_shown(missing)}); expected a causal language model's checkpoint")
    return model


def check_config_fields(name: str | Path | None, fields: Iterable[str], trust_remote_code: bool = False) -> None:
    """Refuse ``config_overrides`` fields the model's config does not have.

    transformers sets any keyword given to ``from_pretrained`` as a config attribute, so a
    typo (``hiden_dropout_prob``) or another architecture's name changes nothing and the
    run trains as if it had not been asked: one line with the nearest real field instead.
    """
    import difflib

    fields = list(fields)
    if not fields:
        return
    path = str(name) if name in CODE_MODELS else resolve_model(name)
    if name in CODE_MODELS:
        from transformers import GPT2Config

        config = BertConfig() if name == TINY_RANDOM_BERT else GPT2Config()
    else:
        config = _load_config(path, trust_remote_code)
    known = set(config.to_dict())
    for field in fields:
        if field not in known:
            close = difflib.get_close_matches(field, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ModelError(f"config_overrides: {field} is not a field of the config of {path} "
                             f"({config.model_type}){hint}")


def pick_device(device: str) -> str:
    """``auto`` is cuda when available; asking for cuda without one is the user's error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--finetune-device cuda: no CUDA device is available on this machine; "
                         "use --finetune-device cpu or auto")
    return device
