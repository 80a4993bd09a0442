"""The path-filter baseline, the way dorny/paths-filter and tj-actions/changed-files work.

    python bench/pathfilter.py FILTERS.yaml BEFORE

`git diff --name-only BEFORE HEAD`, then every changed path matched against every
service's glob patterns; prints the matching services as JSON.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys

import yaml


def main() -> None:
    """Command line."""
    filters_file, before = sys.argv[1], sys.argv[2]
    with open(filters_file, encoding="utf-8") as handle:  # noqa: PTH123
        filters: dict[str, list[str]] = yaml.load(handle, Loader=yaml.CSafeLoader)
    changed = subprocess.run(["git", "diff", "--name-only", before, "HEAD"], check=True,
                             capture_output=True, text=True).stdout.split()
    matched = sorted(name for name, globs in filters.items()
                     if any(fnmatch.fnmatchcase(path, glob) for path in changed
                            for glob in globs))
    json.dump(matched, sys.stdout)


if __name__ == "__main__":
    main()
