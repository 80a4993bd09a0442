"""bench/results.py, bench/suite.py and bench/startup.py's parsing: the suite's bookkeeping.

Every item script writes its section of RESULTS.md and its figures through bench/results.py,
and the suite's summary table reads them back: a section lost or out of order, or a figure
from another run shown as this run's, would make RESULTS.md wrong without anyone noticing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import results  # noqa: E402
import startup  # noqa: E402
import suite  # noqa: E402
from results import Headline  # noqa: E402

OLD = """# Benchmark results

old top

## First release vs no-op release of the examples

old 3

## API calls for 30 ECS services (issue 5)

old 1

## Plan at scale vs a path filter (issue 4)

old 5
"""


def test_sections_replace_their_legacy_headings_and_end_in_item_order(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(OLD)
    results.replace_section(3, "## 3. Promotion\n\nnew 3\n", legacy="## First release vs",
                            path=path)
    results.replace_section(6, "## 6. Install\n\nnew 6\n", path=path)
    results.replace_section(4, "## 4. Start-up\n\nnew 4\n", path=path)
    results.replace_section(1, "## 1. Deploy\n\nnew 1\n", legacy="## API calls", path=path)
    results.replace_section(2, "## 2. No-op\n\nnew 2\n", path=path)
    results.replace_section(5, "## 5. Plan\n\nnew 5\n", legacy="## Plan at scale", path=path)
    results.replace_section(3, "## 3. Promotion: again\n\nnewer 3\n", legacy="## First",
                            path=path)
    results.replace_top("# Benchmark results\n\nnew top\n", path=path)
    assert path.read_text() == (
        "# Benchmark results\n\nnew top\n\n"
        "## 1. Deploy\n\nnew 1\n\n## 2. No-op\n\nnew 2\n\n"
        "## 3. Promotion: again\n\nnewer 3\n\n## 4. Start-up\n\nnew 4\n\n"
        "## 5. Plan\n\nnew 5\n\n## 6. Install\n\nnew 6\n")


def test_a_section_must_carry_its_numbered_heading(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(OLD)
    with pytest.raises(ValueError, match=r"must start with '## 3\. '"):
        results.replace_section(3, "## Promotion\n\nbody\n", path=path)
    with pytest.raises(ValueError, match="no '## ' heading"):
        results.replace_top("# Title\n\n## Summary\n", path=path)
    assert path.read_text() == OLD


def test_figures_are_read_back_only_for_the_run_that_recorded_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(results.RUN_ENV, "run-a")
    written = results.record(3, {"ratio": 0.04},
                             [Headline("promotion / rebuild", "4.0%", "under 5%", met=True)],
                             store=tmp_path)
    assert json.loads(written.read_text())["run"] == "run-a"
    mine = results.load(3, "run-a", store=tmp_path)
    assert mine is not None
    assert mine.figures == {"ratio": 0.04}
    assert mine.headlines == (Headline("promotion / rebuild", "4.0%", "under 5%", True),)
    assert results.load(3, "run-b", store=tmp_path) is None
    assert results.load(4, store=tmp_path) is None


def test_summary_rows_say_which_figures_are_this_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(results.RUN_ENV, "earlier")
    results.record(6, {}, [Headline("install", "3 s / 27 s")], store=tmp_path)
    monkeypatch.setenv(results.RUN_ENV, "now")
    results.record(4, {}, [Headline("--version", "90 ms", "under 150 ms", met=True)],
                   store=tmp_path)
    item3, item4 = (next(i for i in suite.ITEMS if n in i.numbers) for n in (3, 4))
    ran = {"3": suite.Ran(item3, 1, 10.0, tmp_path / "3.log"),
           "4": suite.Ran(item4, 0, 5.0, tmp_path / "4.log")}
    rows = suite.summary_rows(ran, "now", store=tmp_path)
    assert "| 3 | no figures recorded (see its section) | | | | this run: FAILED (exit 1) |" \
        in rows
    assert "| 4 | --version | 90 ms | under 150 ms | met | this run |" in rows
    assert any(r.startswith("| 6 | install | 3 s / 27 s | - | - | earlier (") for r in rows)
    assert "| 1 | no figures recorded (see its section) | | | | not run |" in rows


def test_only_selects_scripts_in_the_suites_order() -> None:
    assert [i.label for i in suite.selected("4,3")] == ["3", "4"]
    assert [i.label for i in suite.selected("2")] == ["1-2"]
    assert [i.label for i in suite.selected("7")] == ["7"]
    assert [i.label for i in suite.selected(None)] == ["1-2", "3", "4", "5", "6", "7"]
    with pytest.raises(SystemExit, match=r"no item 8 \(items 1-7\)"):
        suite.selected("3,8")
    with pytest.raises(SystemExit, match="item numbers"):
        suite.selected("three")


def test_importtime_output_names_the_deferred_modules_it_loaded() -> None:
    stderr = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:       252 |        252 |   _io",
        "import time:      1234 |       2952 |   json.decoder",
        "import time:       776 |       4989 | json",
        "import time:       300 |        300 |     docker.errors",
        "import time:      1000 |       9000 | botocore",
        "import time:        10 |         10 | dockerfile_parse",
    ])
    found = startup.parse_importtime(stderr)
    assert found.modules == ("_io", "json.decoder", "json", "docker.errors", "botocore",
                             "dockerfile_parse")
    assert found.total_us == 4989 + 9000 + 10
    assert found.deferred_found() == ["botocore", "docker.errors"]
    assert startup.parse_importtime("release 0.1.0\n").modules == ()


LAST = """# Benchmark results

Last run: 2026-11-22 20:45 UTC, 8.4 min in total (within the 10-minute budget).
Machine: somewhere.

| item | figure | measured | target | verdict | when |
|---|---|---|---|---|---|
| 1 | deploy: ecs-deploy / release | 7.4x | at least 5x | met | this run |
| 3 | promotion / rebuild | 1.5% | under 5% | met | this run: FAILED (exit 1) |
| 4 | --version | 88 ms | under 150 ms | met | earlier (2026-11-20) |
| 5 | growth (100->1,000 | 1,000->5,000) | 0.29 | 0.27 | linear | met | this run |
| 6 | install (uv / pip) | 2.6 s / 25.6 s | - | - | this run |

Time per script in that run:

| item | command | wall time | result |
|---|---|---|---|
| 1-2 | `python bench/deploy_api_calls.py --suite` | 347 s | ok |
| 5 | `python bench/plan_scaling.py` | 22 s | ok |

## 4. Start-up

Measured 2026-11-20.

## 5. Plan at scale

Measured 2026-11-22.

## 6. Install cost

Measured 2026-12-01 (rewritten by install_cost.py run on its own).
"""


def test_only_keeps_the_other_items_rows_as_the_last_run_left_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(LAST)
    store = tmp_path / "store"
    monkeypatch.setenv(results.RUN_ENV, "before")
    # Newer than the summary, and its section says so: its script ran on its own since.
    results.record(6, {}, [Headline("install (uv / pip)", "2.4 s / 20 s")], store=store)
    # Newer too, but section 5 does not carry its date (RESULTS.md was put back since).
    results.record(5, {}, [Headline("growth", "9.9")], store=store)
    monkeypatch.setenv(results.RUN_ENV, "now")
    results.record(7, {}, [Headline("cached / cold", "12%", "at most 25%", met=True)],
                   store=store)
    item7 = next(i for i in suite.ITEMS if i.label == "7")
    ran = {"7": suite.Ran(item7, 0, 120.0, tmp_path / "7.log")}
    # The store's records of items 5 and 6 were made today; make 6's section carry that date.
    day = results.load(6, store=store).measured[:10]  # type: ignore[union-attr]
    path.write_text(LAST.replace("2026-12-01", day))
    rows = suite.summary_rows(ran, "now", store=store, last=suite.last_top(path))
    assert rows == [
        "| 1 | deploy: ecs-deploy / release | 7.4x | at least 5x | met | earlier (2026-11-22) |",
        "| 2 | no figures recorded (see its section) | | | | not run |",
        "| 3 | promotion / rebuild | 1.5% | under 5% | met | "
        "earlier (2026-11-22): FAILED (exit 1) |",
        "| 4 | --version | 88 ms | under 150 ms | met | earlier (2026-11-20) |",
        "| 5 | growth (100->1,000 | 1,000->5,000) | 0.29 | 0.27 | linear | met | "
        "earlier (2026-11-22) |",
        f"| 6 | install (uv / pip) | 2.4 s / 20 s | - | - | earlier ({day}) |",
        "| 7 | cached / cold | 12% | at most 25% | met | this run |",
    ]


def test_the_top_of_an_only_run_keeps_the_other_items_times(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(LAST)
    item5 = next(i for i in suite.ITEMS if i.label == "5")
    run = suite.SuiteRun((suite.Ran(item5, 0, 20.0, tmp_path / "5.log"),), "now",
                         "python bench/suite.py --only 5", 20.0, "2026-12-06 03:00 UTC",
                         last=suite.last_top(path))
    text = suite.top(run)
    assert "`bash scripts/bench.sh`" in text
    assert "Last run: 2026-12-06 03:00 UTC, `python bench/suite.py --only 5`" in text
    assert "not a complete run" in text
    times = [line for line in text.splitlines() if line.startswith(("| 1-2 |", "| 5 |"))
             and "`python" in line]
    assert times == [
        "| 1-2 | `python bench/deploy_api_calls.py --suite` | 347 s | ok "
        "(earlier run, 2026-11-22) |",
        "| 5 | `python bench/plan_scaling.py --sizes 100,1000,5000 --runs 2` | 20 s | ok |",
    ]
    assert "| 4 | --version | 88 ms | under 150 ms | met | earlier (2026-11-20) |" in text
    # Written and read back, the kept rows stay as they are.
    results.replace_top(text, path=path)
    again = suite.last_top(path)
    assert again.rows[4] == ["| 4 | --version | 88 ms | under 150 ms | met | "
                             "earlier (2026-11-20) |"]
    assert again.rows[1] == ["| 1 | deploy: ecs-deploy / release | 7.4x | at least 5x | met | "
                             "earlier (2026-11-22) |"]
    assert again.dates[5] == "2026-12-06"  # this run's row, read back as of its date
    assert again.times["1-2"].count("(earlier run") == 1


def test_preflight_names_the_command_that_installs_the_tools(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    items = suite.selected("1,4,7")
    assert suite.missing_tools(items, str(tmp_path)) == [
        "item 1-2 needs ecs, aws (the bench extra)", "item 4 needs aws, ecs (the bench extra)"]
    monkeypatch.setattr(suite, "tools_path", lambda: str(tmp_path))
    with pytest.raises(SystemExit, match=r"bash scripts/bench.sh --only 1,2,4,7"):
        suite.preflight(items)
