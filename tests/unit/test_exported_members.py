"""The public namespace is exactly what labkit.__all__ says."""

import labkit


def test_all_names_are_exported() -> None:
    """Every name in __all__ exists, and every public top-level name is in __all__."""
    public = {n for n in dir(labkit) if not n.startswith("_")} - {
        "config", "errors", "exercises", "lab", "runtime", "query", "gateway", "load", "plots",
        "faults", "testing", "alerting", "shipper", "standins", "cli", "slo", "cost", "grading",
        "wait", "dashboards", "exporters", "incident", "serving", "usage_db", "durations"}
    assert set(labkit.__all__) - {"__version__"} == public
    for name in labkit.__all__:
        assert hasattr(labkit, name)
