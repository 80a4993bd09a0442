"""Hostile links that get past the loader to the build keys, through `release plan` in-process.

The loader refuses what leaves the repository on disk (tests/hostile/test_hostile_config.py).
What it cannot see is git: a link to a file that exists in the checkout but is not committed
(ignored, generated) passes the loader, and a key hashed from the link text would never
change when that file does. Build and config keys follow links through git's tree, so such a
link is refused with exit 2. A link in a build context is keyed by its text (Docker sends it
as a link): `plan` accepts it and never opens what it points to.

S3 uploads need a cloud: their hostile cases are adapter tests (tests/adapters/test_s3_publish.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import Case, check, ids, run

PLAN = ("plan", "--env", "dev", "--all")
MODEL = "services/worker/model"
IGNORED = {".gitignore": "generated/\n", "generated/weights.bin": "not committed\n"}
NOT_IN_GIT = "points to nothing in git"

CASES = [
    # A link in a build context, out of the repository: keyed by its text, never read.
    Case("context-link-outside-is-keyed-by-its-text", "", argv=PLAN, exit=0,
         links={"services/web/secret.txt": "{outside}/secret.txt",
                "services/web/secrets": "{outside}/dir"}),
    # Links inside the repository are followed: accepted.
    Case("s3-link-inside-is-accepted", "", argv=PLAN, exit=0,
         links={f"{MODEL}/shared.txt": "../flow.asl.json"}),
    # Links to what exists on disk but not in git: the loader accepts them, the keys cannot.
    Case("s3-link-to-an-uncommitted-file", NOT_IN_GIT, argv=PLAN, write=IGNORED,
         links={f"{MODEL}/weights.bin": "../../../generated/weights.bin"}),
    Case("s3-source-link-to-an-uncommitted-directory", NOT_IN_GIT, argv=PLAN, write=IGNORED,
         links={MODEL: "../../generated"}),
    Case("watched-link-to-an-uncommitted-file", NOT_IN_GIT, argv=PLAN, write=IGNORED,
         set={"release.yaml": {"services.web.watch": ["libs/shared"]}},
         links={"libs/shared/weights.bin": "../../generated/weights.bin"}),
    Case("dockerfile-link-to-an-uncommitted-file", NOT_IN_GIT, argv=PLAN,
         write={**IGNORED, "generated/Dockerfile": "FROM busybox\n"},
         set={"release.yaml": {"services.web.dockerfile": "services/web/Dockerfile.link"}},
         links={"services/web/Dockerfile.link": "../../generated/Dockerfile"}),
    # An absolute link into the checkout resolves inside it here, elsewhere on another machine.
    Case("s3-absolute-link-into-the-checkout", "is absolute", argv=PLAN,
         links={f"{MODEL}/abs.txt": "{outside}/../repo/services/worker/flow.asl.json"}),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_hostile_links_in_keyed_paths(case: Case, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
    if case.exit == 0:
        assert '"build_key"' in outcome.out or "web" in outcome.out
