"""LabConfig reads LABKIT_* variables once and refuses bad values clearly."""

import ast
import inspect
import pickle
import re
from pathlib import Path

import pytest

import labkit.config as config_module
from labkit.config import LabConfig, default_cache_dir, url_variables
from labkit.errors import ConfigError, LabError


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


BAD_VALUES = [
    ("LABKIT_PORT_OFFSET", "ten", "is not an integer"),
    ("LABKIT_PORT_OFFSET", "-5", "between 0 and 40000"),
    ("LABKIT_PORT_OFFSET", "60000", "between 0 and 40000"),
    ("LABKIT_SLOTS", "four", "is not an integer"),
    ("LABKIT_SLOTS", "0", "at least 1"),
    ("LABKIT_MODE", "fast", "expected 'lab' or 'production'"),
    ("LABKIT_RUNTIME", "podman", "expected one of local, docker"),
    ("LABKIT_START_TIMEOUT", "soon", "is not a number of seconds"),
    ("LABKIT_START_TIMEOUT", "0", "positive number of seconds"),
    ("LABKIT_START_TIMEOUT", "nan", "positive number of seconds"),
    ("LABKIT_OFFLINE", "maybe", "is not a boolean; use 1 or 0"),
    ("LABKIT_STRICT_CHECKS", "2", "is not a boolean"),
    ("LABKIT_PROMETHEUS_LIFECYCLE", "enabled", "is not a boolean"),
]


@pytest.mark.parametrize(("variable", "value", "allowed"), BAD_VALUES,
                         ids=[f"{v}={x}" for v, x, _ in BAD_VALUES])
def test_bad_values_name_the_variable_the_value_and_what_is_allowed(
        variable: str, value: str, allowed: str) -> None:
    """A bad variable raises ConfigError (a LabError) naming it, its value and what it takes."""
    with pytest.raises(ConfigError) as info:
        LabConfig.from_env({variable: value})
    assert str(info.value).startswith(f"{variable}={value!r} ")
    assert allowed in str(info.value)
    assert isinstance(info.value, LabError)
    assert (info.value.variable, info.value.value) == (variable, value)


def test_a_config_error_survives_pickling() -> None:
    """A ConfigError raised in a worker process arrives whole in the parent."""
    err = pickle.loads(pickle.dumps(ConfigError("LABKIT_SLOTS", "x", "is not an integer")))
    assert (err.variable, err.value, str(err)) == (
        "LABKIT_SLOTS", "x", "LABKIT_SLOTS='x' is not an integer")


@pytest.mark.parametrize(("raw", "expected"), [
    ("", False), ("0", False), ("false", False), ("No", False), ("off", False),
    ("1", True), ("true", True), ("YES", True), ("on", True),
])
def test_booleans_take_the_usual_spellings(raw: str, expected: bool) -> None:
    """1/true/yes/on turn a switch on, 0/false/no/off (or nothing) leave it off."""
    cfg = LabConfig.from_env({"LABKIT_OFFLINE": raw, "LABKIT_STRICT_CHECKS": raw,
                              "LABKIT_PROMETHEUS_LIFECYCLE": raw})
    assert (cfg.offline, cfg.strict_checks, cfg.prometheus_lifecycle) == (expected,) * 3


def test_process_settings_are_read(tmp_path: Path) -> None:
    """Cache, stack, sink and Loki settings come from their variables, with defaults."""
    cfg = LabConfig.from_env({
        "LABKIT_CACHE_DIR": str(tmp_path / "cache"), "LABKIT_STACK_DIR": str(tmp_path / "stack"),
        "LABKIT_SINK_DATA_DIR": str(tmp_path / "sink"),
        "LABKIT_LOKI_ALLOWED_HOSTS": " loki.lab , ,grafana ",
        "LABKIT_GRAFANA_ADMIN_PASSWORD": "pw", "LABKIT_START_TIMEOUT": "2.5"})
    assert (cfg.cache_dir, cfg.stack_dir, cfg.sink_data_dir) == (
        tmp_path / "cache", tmp_path / "stack", tmp_path / "sink")
    assert cfg.loki_allowed_hosts == ("loki.lab", "grafana")
    assert cfg.grafana_admin_password == "pw" and "pw" not in repr(cfg)
    assert cfg.start_timeout == 2.5
    default = LabConfig.from_env({})
    assert default.stack_dir is None and default.sink_data_dir == Path("sink-data")
    assert default.cache_dir == default_cache_dir() and default.loki_allowed_hosts == ()


def test_url_variables_are_http_urls() -> None:
    """LABKIT_<SERVICE>_URL values lose their trailing slash; a non-URL is refused by name."""
    assert url_variables({"LABKIT_LOKI_URL": "http://10.1.2.3:3100/", "LABKIT_MODE": "lab",
                          "LABKIT_JAEGER_URL": ""}) == {"LABKIT_LOKI_URL": "http://10.1.2.3:3100"}
    with pytest.raises(ConfigError, match=r"LABKIT_PROMETHEUS_URL='localhost:9090' is not an "
                                          r"http\(s\) URL"):
        url_variables({"LABKIT_PROMETHEUS_URL": "localhost:9090"})


def test_every_variable_read_is_documented() -> None:
    """The table in config.py's docstring names every LABKIT_* variable the module reads."""
    source = inspect.getsource(config_module)
    body = source.split('"""', 2)[2]
    read = set(re.findall(r'"(LABKIT_[A-Z_]+)"', body)) - {"LABKIT_IMAGE_"}
    assert len(read) > 15
    missing = {name for name in read if name not in (config_module.__doc__ or "")}
    assert not missing, f"undocumented variables: {sorted(missing)}"


def _environment_reads(path: Path) -> list[str]:
    """Places a module reads the process environment (copying it for a child is not reading)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "getenv" or (
                    node.func.attr in ("get", "copy", "items", "keys")
                    and ast.unparse(node.func.value).endswith("os.environ")):
                target = node.args[0] if node.args else None
                if target is None or not isinstance(target, ast.Constant) or str(
                        target.value).startswith("LABKIT_"):
                    found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("os.environ"):
            if isinstance(node.ctx, ast.Load):
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "dict" and node.args and (
                ast.unparse(node.args[0]).endswith("os.environ")):
            found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return found


def test_only_config_reads_the_environment() -> None:
    """No labkit module but config.py reads a LABKIT_* variable (or the whole environment)."""
    package = Path(config_module.__file__).parent
    reads = [hit for path in sorted(package.rglob("*.py")) if path.name != "config.py"
             or path.parent != package for hit in _environment_reads(path)]
    assert reads == []


@pytest.mark.parametrize("source", [
    'import os\nos.environ.get("LABKIT_X")\n',
    'import os\nos.getenv("LABKIT_X", "")\n',
    'import os\nx = os.environ["LABKIT_X"]\n',
    'import os\nname = "LABKIT_X"\nos.environ.get(name)\n',
    'import os\nenv = dict(os.environ)\n',
], ids=["get", "getenv", "subscript", "variable-key", "copy"])
def test_the_environment_scan_finds_reads(tmp_path: Path, source: str) -> None:
    """The scan above sees each way of reading the environment."""
    path = tmp_path / "mod.py"
    path.write_text(source)
    assert len(_environment_reads(path)) == 1


def test_the_environment_scan_allows_passing_it_on(tmp_path: Path) -> None:
    """Handing the environment to a child process, or reading a non-labkit one, is not flagged."""
    path = tmp_path / "mod.py"
    path.write_text('import os\nenv = {**os.environ, "A": "1"}\nos.environ["B"] = "2"\n'
                    'p = os.environ.get("PYTHONPATH")\n')
    assert _environment_reads(path) == []
