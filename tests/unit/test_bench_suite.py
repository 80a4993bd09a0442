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
    assert [i.label for i in suite.selected(None)] == ["1-2", "3", "4", "5", "6"]
    with pytest.raises(SystemExit, match="no item 7"):
        suite.selected("3,7")
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
