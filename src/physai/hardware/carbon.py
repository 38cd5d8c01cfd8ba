"""Carbon model: gCO2e from energy and a grid-intensity table in the package data (region, year, source)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from physai.core.errors import ConfigError

DEFAULT_REGION = "KR"


@dataclass(frozen=True)
class GridIntensity:
    """Emission factor of an electricity grid."""

    region: str
    """Region code of the table row (or 'override')."""
    year: int | None
    """Year the factor describes."""
    g_per_kwh: float
    """Grams CO2-equivalent per kWh."""
    source: str
    """Where the figure comes from."""


def table() -> list[GridIntensity]:
    """Every row of `grid_intensity.csv`."""
    text = resources.files("physai.hardware").joinpath("grid_intensity.csv").read_text()
    return [
        GridIntensity(r["region"], int(r["year"]), float(r["g_co2e_per_kwh"]), r["source"])
        for r in csv.DictReader(text.splitlines())
    ]


def lookup(region: str = DEFAULT_REGION, year: int | None = None) -> GridIntensity:
    """Latest (or the given year's) factor for `region`; unknown regions fall back to WORLD, labelled so."""
    rows = [r for r in table() if r.region.upper() == region.upper() and (year is None or r.year == year)]
    if not rows:
        if year is not None and any(r.region.upper() == region.upper() for r in table()):
            have = sorted(r.year or 0 for r in table() if r.region.upper() == region.upper())
            raise ConfigError(f"grid intensity for {region} {year} is not in the table; years: {have}")
        w = max((r for r in table() if r.region == "WORLD"), key=lambda r: r.year or 0)
        return GridIntensity(w.region, w.year, w.g_per_kwh, f"{w.source} (no row for region {region!r})")
    return max(rows, key=lambda r: r.year or 0)  # table rows always carry a year


def resolve(value: str | float | None) -> GridIntensity:
    """`--grid-intensity`: None -> Korea default; a number -> g/kWh override; 'KR' or 'KR:2022' -> table."""
    if value is None or value == "":
        return lookup()
    try:
        g = float(value)
    except (TypeError, ValueError):
        region, _, year = str(value).partition(":")
        if year and not year.isdigit():
            raise ConfigError(
                f"--grid-intensity {value!r}: give g/kWh (e.g. 417.3), a region (KR) or region:year (KR:2022)"
            ) from None
        return lookup(region, int(year) if year else None)
    if not g >= 0:
        raise ConfigError(f"--grid-intensity {value!r} must be a non-negative number of gCO2e/kWh")
    return GridIntensity("override", None, g, "--grid-intensity override")


def grams_co2e(joules: float, grid: GridIntensity) -> float:
    """Emissions of `joules` of electricity: J / 3.6e6 J/kWh x g/kWh."""
    return joules / 3.6e6 * grid.g_per_kwh
