"""The tiny default model: a GGUF labkit writes itself, so nothing downloads weights.

Random weights make its text nonsense, but every signal the lab teaches is real: llama-server
tokenizes, schedules slots, decodes and counts tokens exactly as it would for a real model.

The vocabulary is GPT-2 style byte-level BPE: 256 byte tokens (so any text tokenizes), merges
learnt from a fixed English sample, and the ChatML control tokens. The chat template is ChatML.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import numpy as np

from labkit.errors import ProvisionError
from labkit.runtime.paths import models_dir

__all__ = ["MODEL_NAME", "default_model_path", "ensure_model", "generate_tiny_model"]

MODEL_NAME = "labkit-tiny"

# Shape: small enough to load in milliseconds, big enough to exercise attention and the KV cache.
N_EMBD, N_LAYER, N_HEAD, N_FF, N_CTX, N_MERGES = 64, 2, 4, 256, 2048, 240

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# The merges are learnt from this text, so frequent observability words become single tokens.
_CORPUS = """
Observability is the ability to understand the internal state of a system from its outputs.
Metrics, logs and traces are the three pillars. A metric is a number measured over time, such
as the request rate, the error ratio, the latency of each request or the number of tokens the
model generated. Prometheus scrapes metrics from each service and stores them as time series.
Logs record events with their context, and traces follow a request through every service it
touches. The language model server reports prompt tokens, predicted tokens, and the time it
spent on each. An alert fires when the error rate stays above its threshold for five minutes.
The gateway in front of the model counts requests, measures the time to first token and the
time per output token, and limits how many requests run at once while the others wait in a
queue. Dashboards show the rate, errors and duration of the service for the people on call.
"""
_WORD = re.compile(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+")


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (what llama.cpp expects)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _learn_merges(text: str, n_merges: int) -> list[tuple[str, str]]:
    """A minimal BPE trainer: repeatedly merge the most frequent adjacent pair (ties by order)."""
    b2u = _byte_to_unicode()
    words = Counter(
        tuple(b2u[b] for b in w.encode("utf-8")) for w in _WORD.findall(text) if w.strip()
    )
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in words.items():
            for pair in itertools.pairwise(word):
                pairs[pair] += count
        if not pairs:
            break
        # max() keeps the first of equal counts; insertion order is deterministic.
        best = max(pairs, key=lambda p: pairs[p])
        merges.append(best)
        merged: Counter[tuple[str, ...]] = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return merges


def _vocabulary() -> tuple[list[str], list[int], list[str]]:
    """Return tokens, their GGUF token types, and the merges in "a b" form."""
    b2u = _byte_to_unicode()
    merges = _learn_merges(_CORPUS, N_MERGES)
    tokens = [b2u[b] for b in range(256)]
    for a, b in merges:  # two merge paths can spell the same token; llama.cpp needs it once
        if a + b not in tokens:
            tokens.append(a + b)
    tokens += SPECIAL_TOKENS
    types = [1] * (len(tokens) - len(SPECIAL_TOKENS)) + [3] * len(SPECIAL_TOKENS)  # 3 = control
    return tokens, types, [f"{a} {b}" for a, b in merges]


def _weights(
    rng: np.random.Generator, n_vocab: int, suppressed: list[int]
) -> dict[str, np.ndarray]:
    """Random llama weights (numpy shape is out x in) with one guard dimension.

    Dimension 0 of the residual stream is held at 1.0: every embedding has 1.0 there and no
    layer writes to it. The output rows of ``suppressed`` tokens get -30 in that column, so
    the model never samples them: no end-of-turn (a request generates ``max_tokens`` tokens,
    predictable load for the lab, except about one in 600 that llama-server ends early on a
    stop sequence) and no control or non-ASCII bytes (its nonsense is printable text).
    """

    def mat(rows: int, cols: int, scale: float) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    embd = mat(n_vocab, N_EMBD, 1.0)
    embd[:, 0] = 1.0
    output = mat(n_vocab, N_EMBD, 1.0)
    output[:, 0] = 0.0
    output[suppressed, 0] = -30.0
    tensors = {
        "token_embd.weight": embd,
        "output_norm.weight": np.ones(N_EMBD, dtype=np.float32),
        "output.weight": output,
    }
    for i in range(N_LAYER):
        attn_out, ffn_down = mat(N_EMBD, N_EMBD, 0.1), mat(N_EMBD, N_FF, 0.1)
        attn_out[0, :] = 0.0  # never write to the guard dimension
        ffn_down[0, :] = 0.0
        tensors |= {
            f"blk.{i}.attn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
            f"blk.{i}.attn_q.weight": mat(N_EMBD, N_EMBD, 0.2),
            f"blk.{i}.attn_k.weight": mat(N_EMBD, N_EMBD, 0.2),
            f"blk.{i}.attn_v.weight": mat(N_EMBD, N_EMBD, 0.2),
            f"blk.{i}.attn_output.weight": attn_out,
            f"blk.{i}.ffn_norm.weight": np.ones(N_EMBD, dtype=np.float32),
            f"blk.{i}.ffn_gate.weight": mat(N_FF, N_EMBD, 0.2),
            f"blk.{i}.ffn_up.weight": mat(N_FF, N_EMBD, 0.2),
            f"blk.{i}.ffn_down.weight": ffn_down,
        }
    return tensors


def generate_tiny_model(path: Path, *, seed: int = 0) -> Path:
    """Write the tiny GGUF to ``path`` (atomically) and return it.

    The same seed gives the same bytes.

    >>> generate_tiny_model(Path("/tmp/tiny.gguf"), seed=0)  # doctest: +SKIP
    PosixPath('/tmp/tiny.gguf')
    """
    import gguf  # imported here: only model generation needs it

    if not isinstance(seed, int) or seed < 0:
        raise ProvisionError(f"model seed must be a non-negative integer, got {seed!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens, types, merges = _vocabulary()
    special = [tokens.index(t) for t in SPECIAL_TOKENS]
    # Byte tokens sit at ids 0-255 in byte order; keep printable ASCII and newline sampleable.
    unprintable = [b for b in range(256) if not (32 <= b < 127 or b == 10)]
    rng = np.random.default_rng(seed)

    tmp = path.with_name(f".{path.name}.tmp")
    writer = gguf.GGUFWriter(tmp, arch="llama")
    writer.add_name(f"{MODEL_NAME}-{seed}")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(special[0])
    writer.add_eos_token_id(special[2])  # <|im_end|> ends a chat turn
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    for name, array in _weights(rng, len(tokens), special + unprintable).items():
        writer.add_tensor(name, array)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(path)
    return path


def default_model_path(seed: int = 0) -> Path:
    """Return where the default tiny model lives: ``cache_dir()/models/labkit-tiny-<seed>.gguf``."""
    return models_dir() / f"{MODEL_NAME}-{seed}.gguf"


def ensure_model(path: Path | None = None, seed: int = 0) -> Path:
    """The tiny model at ``path`` (default: :func:`default_model_path`), generated once."""
    target = Path(path) if path is not None else default_model_path(seed)
    if target.is_file() and target.stat().st_size > 0:
        return target
    return generate_tiny_model(target, seed=seed)
