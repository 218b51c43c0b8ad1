"""The tiny generated GGUF: deterministic, small, and complete enough for llama.cpp."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from labkit.errors import ProvisionError
from labkit.runtime import model
from labkit.runtime.model import default_model_path, ensure_model, generate_tiny_model


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _field(reader: gguf.GGUFReader, key: str) -> object:
    return reader.fields[key].contents()


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    """Generating twice with one seed writes byte-identical files; another seed differs."""
    a = generate_tiny_model(tmp_path / "a.gguf", seed=7).read_bytes()
    b = generate_tiny_model(tmp_path / "b.gguf", seed=7).read_bytes()
    c = generate_tiny_model(tmp_path / "c.gguf", seed=8).read_bytes()
    assert a == b
    assert a != c


def test_model_is_small_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """The model stays under 5 MB and only the final file is left behind."""
    path = generate_tiny_model(tmp_path / "m" / "tiny.gguf")
    assert path.stat().st_size < 5 * 1024 * 1024
    assert [p.name for p in path.parent.iterdir()] == ["tiny.gguf"]


def test_metadata_llama_cpp_needs(tmp_path: Path) -> None:
    """Architecture, ChatML template, and a byte-level BPE vocabulary with unique tokens."""
    reader = gguf.GGUFReader(generate_tiny_model(tmp_path / "tiny.gguf"))
    assert _field(reader, "general.architecture") == "llama"
    assert _field(reader, "tokenizer.ggml.model") == "gpt2"
    assert "<|im_start|>" in str(_field(reader, "tokenizer.chat_template"))
    tokens = list(_field(reader, "tokenizer.ggml.tokens"))  # type: ignore[call-overload]
    assert 256 < len(tokens) < 1000
    assert len(set(tokens)) == len(tokens)
    # Every byte has a token, so any text (emoji included) can be tokenized.
    assert len({t for t in tokens if len(t) == 1}) == 256
    eos = _field(reader, "tokenizer.ggml.eos_token_id")
    assert tokens[eos] == "<|im_end|>"  # type: ignore[index]
    names = {t.name for t in reader.tensors}
    assert {"token_embd.weight", "output.weight", "blk.1.ffn_down.weight"} <= names


def test_merges_name_existing_tokens(tmp_path: Path) -> None:
    """Each merge "a b" joins two tokens of the vocabulary into a third one."""
    reader = gguf.GGUFReader(generate_tiny_model(tmp_path / "tiny.gguf"))
    tokens = set(_field(reader, "tokenizer.ggml.tokens"))  # type: ignore[call-overload]
    merges = list(_field(reader, "tokenizer.ggml.merges"))  # type: ignore[call-overload]
    assert merges
    for merge in merges:
        left, right = merge.split(" ")
        assert {left, right, left + right} <= tokens


def test_default_path_is_in_the_cache(private_cache: Path) -> None:
    """The default model lives in the cache's models/ folder, named by seed."""
    assert default_model_path(3) == private_cache / "models" / "labkit-tiny-3.gguf"


def test_ensure_model_generates_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first ensure_model writes the file; the second reuses it."""
    calls: list[int] = []
    real = model.generate_tiny_model

    def counting(path: Path, *, seed: int = 0) -> Path:
        calls.append(seed)
        return real(path, seed=seed)

    monkeypatch.setattr(model, "generate_tiny_model", counting)
    first = ensure_model(seed=2)
    second = ensure_model(seed=2)
    assert first == second == default_model_path(2)
    assert first.is_file()
    assert calls == [2]


@pytest.mark.parametrize("seed", [-1, 1.5, "0"], ids=["negative", "float", "str"])
def test_bad_seed_is_refused(tmp_path: Path, seed: object) -> None:
    """A seed that is not a non-negative integer is a clear error."""
    with pytest.raises(ProvisionError, match="non-negative integer"):
        generate_tiny_model(tmp_path / "x.gguf", seed=seed)  # type: ignore[arg-type]
