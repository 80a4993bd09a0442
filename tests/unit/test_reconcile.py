"""The pure planner: desired build keys against deployed state, as tables of cases."""

from __future__ import annotations

import pytest

from release.planning.reconcile import (
    Deployed,
    Desired,
    Entry,
    Selection,
    matrix,
    reconcile,
    since,
    touched,
)

HEAD = {"api": Desired("k-api-2", "c1"), "web": Desired("k-web-1", "c1"),
        "worker": Desired("k-worker-1", "c1")}
ALL_CURRENT = {"api": Deployed("k-api-2", "bbbbbbb", 1.0, "c1"),
               "web": Deployed("k-web-1", "aaaaaaa", 1.0, "c1"),
               "worker": Deployed("k-worker-1", "aaaaaaa", 1.0, "c1")}


@pytest.mark.parametrize(("case", "deployed", "selection", "expected"), [
    ("first deploy: nothing runs anywhere", {}, Selection(),
     [("api", "not deployed"), ("web", "not deployed"), ("worker", "not deployed")]),
    ("no change: every key matches", ALL_CURRENT, Selection(), []),
    ("one service changed", {**ALL_CURRENT, "api": Deployed("k-api-1", "aaaaaaa", 1.0, "c1")},
     Selection(), [("api", "deployed differs")]),
    # A failed previous run left 'worker' on its old build; an unrelated push follows. The
    # plan does not care what the push touched: worker still differs from HEAD.
    ("failed previous run is planned again",
     {**ALL_CURRENT, "worker": Deployed("k-worker-0", "0000001", 1.0, "c1")}, Selection(),
     [("worker", "deployed differs")]),
    ("deployed by something else (no recorded key)",
     {**ALL_CURRENT, "web": Deployed(None)}, Selection(), [("web", "not deployed")]),
    ("config-only change", {**ALL_CURRENT, "web": Deployed("k-web-1", "aaaaaaa", 1.0, "c0")},
     Selection(), [("web", "config differs")]),
    ("dispatch selection releases exactly what was chosen", ALL_CURRENT,
     Selection(services=("web",)), [("web", "forced")]),
    ("dispatch --all", ALL_CURRENT, Selection(everything=True),
     [("api", "forced"), ("web", "forced"), ("worker", "forced")]),
    ("redeploy: fresh tasks, same image", ALL_CURRENT,
     Selection(services=("api",), redeploy=True), [("api", "redeploy")]),
    ("no recorded config key: only images compare",
     {**ALL_CURRENT, "web": Deployed("k-web-1", "aaaaaaa", 1.0, None)}, Selection(), []),
    ("targets disagree (mixed)", {**ALL_CURRENT, "api": Deployed("mixed")}, Selection(),
     [("api", "deployed differs")]),
])
def test_reconcile(case: str, deployed: dict[str, Deployed | None], selection: Selection,
                   expected: list[tuple[str, str]]) -> None:
    got = [(e.service, e.reason) for e in reconcile(HEAD, deployed, selection)]
    assert got == expected, case


WATCHED = {"api": ["services/api", "services/api/Dockerfile", "libs/common"],
           "web": ["services/web", "libs/ui"],
           "root": ["."]}


@pytest.mark.parametrize(("changed", "expected"), [
    ([], {"root": []}),
    (["services/api/app.py"], {"api": ["services/api/app.py"]}),
    (["libs/common/x.py"], {"api": ["libs/common/x.py"]}),  # a shared library: its users only
    (["services/apix/main.py"], {}),  # a sibling with a common prefix is not inside
    (["README.md", "libs/ui/a.css"], {"web": ["libs/ui/a.css"]}),
])
def test_touched(changed: list[str], expected: dict[str, list[str]]) -> None:
    got = touched(changed, WATCHED)
    got.pop("root", None)  # the root context sees everything it is given
    expected.pop("root", None)
    assert got == expected
    assert touched(changed, {"root": ["."]}) == ({"root": changed} if changed else {})


@pytest.mark.parametrize(("before", "changed", "expected"), [
    ({"api": Desired("k0"), "web": Desired("k2")}, ["services/api/a.py", "services/api/b.py"],
     [Entry("api", "changed paths", "k1", "services/api/a.py, services/api/b.py")]),
    # A path under the watched root that the build ignores (.dockerignore): keys equal.
    ({"api": Desired("k1"), "web": Desired("k2")}, ["services/api/README.md"], []),
    ({"web": Desired("k2")}, [], [Entry("api", "changed paths", "k1", "new service")]),
    ({"api": Desired("k1", "c0"), "web": Desired("k2")}, ["environments/dev.yaml"],
     [Entry("api", "changed paths", "k1", "environment values changed")]),
])
def test_since_compares_keys_and_explains_with_paths(
        before: dict[str, Desired], changed: list[str], expected: list[Entry]) -> None:
    desired = {"api": Desired("k1", "c1" if "api" in before and before["api"].config_key
                              else None), "web": Desired("k2")}
    assert since(desired, before, changed, WATCHED) == expected


def test_matrix_splits_at_the_job_limit() -> None:
    entries = [Entry(f"s{i:03}", "not deployed", f"k{i}") for i in range(600)]
    chunks = matrix(entries, {"s000": {"context": "services/s000"}})
    assert [len(c["include"]) for c in chunks] == [256, 256, 88]
    assert chunks[0]["include"][0] == {"service": "s000", "build_key": "k0",
                                       "reason": "not deployed", "context": "services/s000"}
    assert matrix([], {}) == [{"include": []}]
