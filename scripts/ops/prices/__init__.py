"""Unit prices for ``make cost``: the table shipped here (offline) or the AWS Price List API.

Both sources answer the same question, ``unit(key, instance_type=None)``: the on-demand list
price of one unit (a vCPU-hour, a GB-month, ...) in the configured region, or no figure and why.
The keys, and what one unit is, are those of ``list-prices.json`` (its ``units`` block).

The table holds, per region, each figure with where it was read and the date that source gives;
a figure nobody could find is ``null`` with the reason, never a guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from scripts.ops.errors import EXIT_USAGE, ScriptError
from stacks.config import REPO_ROOT

TABLE_FILE = Path(__file__).resolve().parent / "list-prices.json"
# Keys priced per instance type (a mapping instance type -> figure in the table).
PER_INSTANCE = frozenset({"ec2_instance_hour", "emr_instance_hour"})


@dataclass(frozen=True)
class UnitPrice:
    """One unit's price in USD (``None``: not known, ``note`` says why) and where it came from."""

    usd: Decimal | None
    note: str


class PriceSource(Protocol):
    """What :mod:`scripts.ops.cost` reads prices from."""

    region: str
    description: str

    def unit(self, key: str, instance_type: str | None = None) -> UnitPrice: ...


def display_path(path: Path) -> str:
    """``scripts/ops/prices/list-prices.json`` for the shipped table, else the path as given."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def load_table(path: Path = TABLE_FILE) -> dict[str, Any]:
    """The price table, its numbers as ``Decimal`` so that sums of cents stay exact."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal, parse_int=Decimal)
    except OSError as error:
        raise ScriptError(
            f"cannot read the price table {display_path(path)}: {error.strerror or error}"
        ) from None
    except json.JSONDecodeError as error:
        raise ScriptError(f"the price table {display_path(path)} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("regions"), dict):
        raise ScriptError(f"the price table {display_path(path)} has no 'regions' object")
    return data


class TablePrices:
    """Figures from the shipped table for one region; an unknown region is one clear error."""

    def __init__(self, region: str, path: Path = TABLE_FILE) -> None:
        self.path = path
        self.table = load_table(path)
        regions: dict[str, Any] = self.table["regions"]
        if region not in regions:
            raise ScriptError(
                f"no prices for region {region} in {display_path(path)} (known: {', '.join(sorted(regions))}); "
                "--source api needs credentials",
                exit_code=EXIT_USAGE,
            )
        self.region = region
        self.prices: dict[str, Any] = regions[region]
        self.description = (
            f"price table {display_path(path)} (compiled {self.table.get('compiled', '?')}; "
            "each figure's source and date are in the file)"
        )

    def unit(self, key: str, instance_type: str | None = None) -> UnitPrice:
        entry: Any = self.prices.get(key)
        what = key
        if key in PER_INSTANCE:
            what = f"{key} {instance_type}"
            entry = (entry or {}).get(instance_type)
        where = f"{display_path(self.path)}, {self.region}"
        if not isinstance(entry, dict):
            return UnitPrice(None, f"no {what} in {where}")
        if entry.get("usd") is None:
            return UnitPrice(None, f"{what} is null in {where}: {entry.get('note', 'no figure')}")
        return UnitPrice(Decimal(entry["usd"]), f"table, as of {entry.get('as_of', '?')}")
