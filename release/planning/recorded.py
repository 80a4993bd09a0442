"""The tags a release records on what it deploys, defined once: what a deployment was
built from (build key), at which commit, and with which config (config key)."""

from __future__ import annotations

BUILD_KEY_TAG = "release:build-key"
SOURCE_COMMIT_TAG = "release:source-commit"
CONFIG_KEY_TAG = "release:config-key"
NO_IMAGE = "no-image"  # the build key recorded for a service that runs no image

# Tags that change with every commit but not the deployment: a new commit that builds the
# same image must not register a new revision.
VOLATILE_TAGS = frozenset({SOURCE_COMMIT_TAG, CONFIG_KEY_TAG})


def tags(build_key: str, commit: str, config_key: str | None = None) -> dict[str, str]:
    """The tags recording what a deployment was built from."""
    recorded = {BUILD_KEY_TAG: build_key, SOURCE_COMMIT_TAG: commit}
    if config_key:
        recorded[CONFIG_KEY_TAG] = config_key
    return recorded
