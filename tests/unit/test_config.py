"""LabConfig reads LABKIT_* variables once and refuses bad values clearly."""

from pathlib import Path

import pytest

from labkit.config import LabConfig


def test_defaults_bind_loopback() -> None:
    """With no variables, services bind 127.0.0.1 on their default ports in lab mode."""
    cfg = LabConfig.from_env({})
    assert cfg.host == "127.0.0.1"
    assert cfg.port(9090) == 9090
    assert cfg.lab_mode


def test_variables_are_read() -> None:
    """Every documented variable changes the setting it names."""
    cfg = LabConfig.from_env({"LABKIT_RUN_DIR": "/tmp/x", "LABKIT_PORT_OFFSET": "1000",
                              "LABKIT_SLOTS": "8", "LABKIT_MODE": "production",
                              "LABKIT_MODEL": "/m.gguf"})
    assert (cfg.run_dir, cfg.port(9090), cfg.slots) == (Path("/tmp/x"), 10090, 8)
    assert not cfg.lab_mode and cfg.model == Path("/m.gguf")
    assert cfg.state_file == Path("/tmp/x/state.json")


@pytest.mark.parametrize(("env", "message"), [
    ({"LABKIT_PORT_OFFSET": "ten"}, "LABKIT_PORT_OFFSET='ten' is not an integer"),
    ({"LABKIT_MODE": "fast"}, "expected 'lab' or 'production'"),
    ({"LABKIT_SLOTS": "0"}, "at least 1"),
], ids=["offset", "mode", "slots"])
def test_bad_values_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    """A bad variable raises an error naming it."""
    with pytest.raises(ValueError, match=message):
        LabConfig.from_env(env)
