"""bench/plan_scaling.py and bench/monorepo.py at a tiny size: the benchmark itself works."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import monorepo  # noqa: E402
import plan_scaling  # noqa: E402
from plan_scaling import Row, Shape  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def row(services: int, files: int, commits: int, seconds: float) -> Row:
    return Row(Shape(services, files, commits), files, commits + 1, 1, seconds, 0.3)


def test_the_shapes_vary_one_thing_at_a_time() -> None:
    shapes = plan_scaling.shapes([100, 1000, 5000])
    assert shapes == [Shape(100, 10_000, 300), Shape(1000, 100_000, 300),
                      Shape(5000, 100_000, 300), Shape(1000, 10_000, 300),
                      Shape(1000, 10_000, 30), Shape(1000, 10_000, 300, dockerignore=True)]
    assert plan_scaling.shapes([100]) == [Shape(100, 10_000, 300)]


def test_growth_and_headlines_from_rows() -> None:
    rows = [row(100, 10_000, 300, 0.20), row(1000, 100_000, 300, 0.50),
            row(5000, 100_000, 300, 1.80), row(1000, 10_000, 300, 0.49),
            row(1000, 10_000, 30, 0.49)]
    grown = {(g.what, g.small.shape.services): g for g in plan_scaling.growths(rows)}
    assert grown["services", 100].per_unit_ms == pytest.approx(1000 * 0.29 / 900)
    assert grown["services", 1000].per_unit_ms == pytest.approx(1000 * 1.3 / 4000)
    assert grown["files", 1000].time_factor == pytest.approx(0.50 / 0.49)
    assert grown["commits", 1000].factor == pytest.approx(301 / 31)
    first, growth = plan_scaling.headlines(rows, list(grown.values()))
    assert first.met is True  # 0.50 s, 1.7x
    assert growth.met is True  # 0.32 vs 0.33 ms per service; files and commits flat
    slow = [*rows[:1], row(1000, 100_000, 300, 0.9), *rows[2:]]
    assert plan_scaling.headlines(slow, plan_scaling.growths(slow))[0].met is False


def test_a_tiny_monorepo_is_cached_and_measured(tmp_path: Path) -> None:
    root = monorepo.cached(tmp_path, 12, 150, 4, dockerignore=True)
    assert root == monorepo.cached(tmp_path, 12, 150, 4, dockerignore=True)  # reused
    assert not list(tmp_path.glob("*.partial"))
    assert (root / "services" / "svc-0000" / ".dockerignore").is_file()
    measured = plan_scaling.measure(Shape(12, 150, 4, dockerignore=True), tmp_path, runs=1)
    assert measured.shape.services == 12
    assert measured.commits == 5
    assert measured.planned == 1  # 2% of 12 services, at least one, is stale
    assert measured.ours > 0
    assert measured.base > 0
