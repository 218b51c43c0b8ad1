"""Rendered alert and recording rules pass promtool's checks and unit tests, in both modes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labkit.alerting.tools import check_rules, test_rules
from labkit.errors import BinaryNotFound, LabError
from labkit.runtime.rules import ALERT_NAMES, render_rule_tests, render_rules

MODES = [pytest.param(False, id="production"), pytest.param(True, id="lab")]


def _rules(path: Path) -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def _all_rules(paths: list[Path]) -> list[dict]:
    return [r for p in paths for r in _rules(p)]


@pytest.mark.parametrize("lab", MODES)
def test_promtool_check_rules_passes(tmp_path: Path, lab: bool) -> None:
    """promtool accepts every rendered rule file."""
    paths = render_rules(tmp_path, lab=lab, slots=4)
    result = check_rules(paths)
    assert result.ok, result.output


@pytest.mark.parametrize("lab", MODES)
def test_promtool_unit_tests_pass(tmp_path: Path, lab: bool) -> None:
    """The promtool unit tests pass against the rules rendered with the same timing."""
    rules = render_rules(tmp_path / "rules", lab=lab, slots=4)
    tests = render_rule_tests(tmp_path / "tests", rules_dir=tmp_path / "rules", lab=lab, slots=4)
    assert rules and tests
    result = test_rules(tests)
    assert result.ok, result.output
    assert "SUCCESS" in result.output


def test_every_alert_has_firing_and_quiet_tests(tmp_path: Path) -> None:
    """Each alert the rules define is tested both firing (alerts expected) and quiet (none)."""
    rules = render_rules(tmp_path / "rules", lab=False, slots=4)
    defined = {r["alert"] for r in _all_rules(rules) if "alert" in r}
    assert defined == set(ALERT_NAMES)
    [tests] = render_rule_tests(tmp_path / "tests", rules_dir=tmp_path / "rules", lab=False,
                                slots=4)
    cases = [c for t in yaml.safe_load(tests.read_text())["tests"] for c in t["alert_rule_test"]]
    for name in ALERT_NAMES:
        named = [c for c in cases if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in named), f"{name} is never tested firing"
        assert any(not c["exp_alerts"] for c in named), f"{name} is never tested quiet"


def test_seed_gpu_ratio_fails_the_unit_tests(tmp_path: Path) -> None:
    """The seed's used/free GPU ratio pages on a half-full card, and the tests catch it."""
    rules = render_rules(tmp_path / "rules", lab=False, slots=4)
    alerts = tmp_path / "rules" / "alerts.yml"
    fixed = "(DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"
    assert fixed in alerts.read_text()
    alerts.write_text(alerts.read_text().replace(fixed, "DCGM_FI_DEV_FB_FREE"))
    tests = render_rule_tests(tmp_path / "tests", rules_dir=tmp_path / "rules", lab=False, slots=4)
    result = test_rules(tests)
    assert rules and not result.ok
    assert 'gpu="1"' in result.output  # the half-full card fires with the seed's ratio


@pytest.mark.parametrize("lab,for_errors,window", [
    pytest.param(False, "5m", "[5m]", id="production-seed-values"),
    pytest.param(True, "30s", "[1m]", id="lab-compressed"),
])
def test_timing_follows_mode(tmp_path: Path, lab: bool, for_errors: str, window: str) -> None:
    """Production keeps the seed's `for: 5m` and [5m] rates; lab compresses both."""
    rules = {r.get("alert"): r for r in _all_rules(render_rules(tmp_path, lab=lab, slots=4))}
    assert rules["HighErrorRate"]["for"] == for_errors
    assert window in rules["HighErrorRate"]["expr"]
    assert "> 0.05" in rules["HighErrorRate"]["expr"]  # thresholds never change


def test_slot_count_is_rendered_into_slot_rules(tmp_path: Path) -> None:
    """The configured slot count is what saturation and NoAvailableSlots compare against."""
    rules = _all_rules(render_rules(tmp_path, lab=True, slots=7))
    by_name = {r.get("alert") or r.get("record"): r for r in rules}
    assert by_name["instance:llamacpp_slots:saturation"]["expr"].rstrip().endswith("/ 7")
    assert "7 - max by (job, instance) (llamacpp:requests_processing)" in by_name[
        "NoAvailableSlots"]["expr"]


@pytest.mark.parametrize("slots", [0, -1, True, "4"], ids=["zero", "negative", "bool", "string"])
def test_bad_slot_count_is_refused(tmp_path: Path, slots: object) -> None:
    """A slot count that is not a positive integer is refused with the reason."""
    with pytest.raises(LabError, match="slots must be a positive integer"):
        render_rules(tmp_path, lab=True, slots=slots)  # type: ignore[arg-type]


def test_missing_promtool_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without promtool (not on PATH, not in labkit's cache) the error says how to install it."""
    paths = render_rules(tmp_path, lab=True, slots=4)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(BinaryNotFound, match="promtool is not installed: run `labkit install`"):
        check_rules(paths)


DEBIAN_PROMTOOL = Path("/usr/bin/promtool")


@pytest.mark.skipif(not DEBIAN_PROMTOOL.exists(),
                    reason="Debian's prometheus package is not installed (CI installs it)")
@pytest.mark.parametrize("lab", MODES)
def test_promtool_unit_tests_also_pass_on_debian_prometheus_2(tmp_path: Path, lab: bool) -> None:
    """Where Debian's Prometheus 2 is the one installed, its promtool passes the same tests."""
    from labkit.runtime.origins import binary_version

    assert binary_version(DEBIAN_PROMTOOL, "promtool").startswith("2.")
    rules = render_rules(tmp_path / "rules", lab=lab, slots=4)
    tests = render_rule_tests(tmp_path / "tests", rules_dir=tmp_path / "rules", lab=lab, slots=4,
                              prometheus_major=2)
    assert check_rules(rules, promtool=DEBIAN_PROMTOOL).ok
    result = test_rules(tests, promtool=DEBIAN_PROMTOOL)
    assert result.ok, result.output
    assert "SUCCESS" in result.output


def test_provisioned_promtool_is_prometheus_3() -> None:
    """The promtool the lab uses is the pinned Prometheus 3 (not Debian's 2.42)."""
    from labkit.runtime.origins import binary_version
    from labkit.runtime.provision import locate
    from labkit.runtime.versions import PINNED

    found = locate("promtool")
    assert found is not None, "promtool is not installed: run `labkit install`"
    assert binary_version(found.path, "promtool") == PINNED["prometheus"].version, found
