"""The price table: instance hours and tokens, from a dict or a YAML/JSON file.

The seed's CostTracker hard-codes both tables and prices anything it does not know at
0 (an instance) or at llama-2-7b's rate (a model), so a typo silently makes a bill smaller.
Here an unknown name is an error that lists the known ones.

File format (YAML or JSON)::

    currency: USD
    instances:            # on-demand price per hour
      g5.xlarge: 1.006
    tokens:               # price per 1K tokens: one number, or prompt and completion
      llama-2-7b: 0.0001
      labkit-tiny: {prompt: 0.00005, completion: 0.00015}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labkit.errors import LabError

__all__ = ["DEFAULT_PRICES", "HOURS_PER_MONTH", "PriceTable", "PriceTableError", "TokenPrice"]

HOURS_PER_MONTH = 730  # the seed's (and the cloud bills') average month: 8760 h / 12

DEFAULT_PRICES: dict[str, Any] = {
    "currency": "USD",
    "instances": {
        # AWS on-demand, us-east-1, as in the course text.
        "g5.xlarge": 1.006,     # 1x NVIDIA A10G 24 GB
        "g5.2xlarge": 1.212,
        "p3.2xlarge": 3.06,     # 1x V100 16 GB
        # What the lab runs on: a 2-vCPU general-purpose instance (m5.large on-demand).
        "cpu-lab": 0.096,
    },
    "tokens": {
        "llama-2-7b": 0.0001,   # per 1K tokens, the seed's figures
        "llama-2-13b": 0.0002,
        "llama-2-70b": 0.001,
        # The lab's random-weight model; illustrative prices, output dearer than input
        # as on every commercial price list.
        "labkit-tiny": {"prompt": 0.00005, "completion": 0.00015},
        # Aliases the gateway also serves (the same model behind other names).
        "labkit-tiny-chat": {"prompt": 0.0001, "completion": 0.0003},
        "labkit-tiny-code": {"prompt": 0.0002, "completion": 0.0006},
    },
}


class PriceTableError(LabError, ValueError):
    """The price table is malformed, or does not know an instance type or model."""


@dataclass(frozen=True)
class TokenPrice:
    """Price per 1K prompt tokens and per 1K completion tokens."""

    prompt: float
    completion: float

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1000


def _price(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0:
        raise PriceTableError(f"{where}: a price must be a non-negative number, got {value!r}")
    return float(value)


def _token_price(value: Any, where: str) -> TokenPrice:
    if isinstance(value, Mapping):
        unknown = set(value) - {"prompt", "completion"}
        missing = {"prompt", "completion"} - set(value)
        if unknown or missing:
            raise PriceTableError(f"{where}: give one number, or exactly 'prompt' and "
                                  f"'completion' (got keys {sorted(value)})")
        return TokenPrice(_price(value["prompt"], f"{where}.prompt"),
                          _price(value["completion"], f"{where}.completion"))
    price = _price(value, where)
    return TokenPrice(price, price)


@dataclass(frozen=True)
class PriceTable:
    """Hourly instance prices and per-1K-token prices, validated.

    >>> prices = PriceTable.default()
    >>> prices.hourly({"g5.xlarge": 2})
    2.012
    >>> round(prices.usage_cost("labkit-tiny", prompt_tokens=1000, completion_tokens=1000), 6)
    0.0002
    """

    instances: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, TokenPrice] = field(default_factory=dict)
    currency: str = "USD"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "price table") -> PriceTable:
        """Validate a mapping shaped like :data:`DEFAULT_PRICES`."""
        if not isinstance(data, Mapping):
            raise PriceTableError(f"{source}: expected a mapping with 'instances' and 'tokens', "
                                  f"got {type(data).__name__}")
        unknown = set(data) - {"currency", "instances", "tokens"}
        if unknown:
            raise PriceTableError(f"{source}: unknown key(s) {sorted(unknown)}; expected "
                                  "'currency', 'instances' and 'tokens'")
        sections: dict[str, Mapping[str, Any]] = {}
        for key in ("instances", "tokens"):
            section = data.get(key, {})
            if not isinstance(section, Mapping):
                raise PriceTableError(f"{source}: '{key}' must map names to prices, got "
                                      f"{type(section).__name__}")
            sections[key] = section
        currency = data.get("currency", "USD")
        if not isinstance(currency, str) or not currency:
            raise PriceTableError(f"{source}: 'currency' must be a code such as 'USD'")
        return cls(
            instances={str(k): _price(v, f"{source}: instances.{k}")
                       for k, v in sections["instances"].items()},
            tokens={str(k): _token_price(v, f"{source}: tokens.{k}")
                    for k, v in sections["tokens"].items()},
            currency=currency,
        )

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        """Read a YAML or JSON price table (JSON is YAML too, but its errors read better)."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise PriceTableError(f"cannot read the price table {path}: {exc}") from exc
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise PriceTableError(f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: "
                                  f"{exc}") from exc
        return cls.from_dict(data if data is not None else {}, source=str(path))

    @classmethod
    def default(cls) -> PriceTable:
        """The course text's prices, plus the lab's instance and model."""
        return cls.from_dict(DEFAULT_PRICES, source="DEFAULT_PRICES")

    def instance_price(self, instance_type: str) -> float:
        """Hourly price of one instance of this type."""
        try:
            return self.instances[instance_type]
        except KeyError:
            raise PriceTableError(f"no hourly price for instance type {instance_type!r}; "
                                  f"known: {', '.join(sorted(self.instances))}") from None

    def token_price(self, model: str) -> TokenPrice:
        """Per-1K-token prices of a model."""
        try:
            return self.tokens[model]
        except KeyError:
            raise PriceTableError(f"no token price for model {model!r}; known: "
                                  f"{', '.join(sorted(self.tokens))}. Add it to the price "
                                  "table's 'tokens'.") from None

    def hourly(self, instances: Mapping[str, int] | Sequence[str]) -> float:
        """Infrastructure cost per hour of a fleet: ``{"g5.xlarge": 2}`` or a list of types."""
        counts = dict(instances) if isinstance(instances, Mapping) else \
            {t: list(instances).count(t) for t in set(instances)}
        return round(sum(self.instance_price(t) * n for t, n in counts.items()), 10)

    def usage_cost(self, model: str, *, prompt_tokens: float, completion_tokens: float) -> float:
        """Token cost of some usage of one model."""
        return self.token_price(model).cost(prompt_tokens, completion_tokens)
