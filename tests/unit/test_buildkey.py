"""release.planning.buildkey: equal inputs give equal keys, any changed input a new key."""

from __future__ import annotations

from dataclasses import replace

import pytest

from release.config.model import Service
from release.planning.buildkey import KEY_HEX_CHARS, BuildInputs, build_key, inputs_for, paths_of

BASE = BuildInputs(
    context="1" * 40,
    dockerfile="2" * 40,
    watch={"libs/a": "3" * 40, "libs/b": "4" * 40},
    build_args={"BASE_IMAGE": "busybox:1", "X": "1"},
    platform="linux/amd64",
)


def test_key_is_short_hex_and_stable() -> None:
    key = build_key(BASE)
    assert len(key) == KEY_HEX_CHARS == 20
    assert int(key, 16) >= 0
    assert build_key(BASE) == key
    # A recomputed key from equal (not identical) inputs is the same.
    again = BuildInputs(context="1" * 40, dockerfile="2" * 40,
                        watch={"libs/b": "4" * 40, "libs/a": "3" * 40},
                        build_args={"X": "1", "BASE_IMAGE": "busybox:1"},
                        platform="linux/amd64")
    assert build_key(again) == key


@pytest.mark.parametrize(
    "changed",
    [
        replace(BASE, context="9" * 40),
        replace(BASE, dockerfile="9" * 40),
        replace(BASE, watch={"libs/a": "3" * 40, "libs/b": "9" * 40}),
        replace(BASE, watch={"libs/a": "3" * 40}),
        replace(BASE, watch={"libs/a": "3" * 40, "libs/c": "4" * 40}),
        replace(BASE, build_args={"BASE_IMAGE": "busybox:2", "X": "1"}),
        replace(BASE, build_args={"BASE_IMAGE": "busybox:1"}),
        replace(BASE, build_args={"BASE_IMAGE": "busybox:1", "Y": "1"}),
        replace(BASE, platform="linux/arm64"),
    ],
    ids=["context", "dockerfile", "watch-id", "watch-removed", "watch-renamed",
         "build-arg-value", "build-arg-removed", "build-arg-renamed", "platform"],
)
def test_each_input_changes_the_key(changed: BuildInputs) -> None:
    assert build_key(changed) != build_key(BASE)


def test_swapping_context_and_dockerfile_changes_the_key() -> None:
    swapped = replace(BASE, context=BASE.dockerfile, dockerfile=BASE.context)
    assert build_key(swapped) != build_key(BASE)


SERVICE = Service(name="web", context="services/web", dockerfile="services/web/Dockerfile",
                  repository="web", platform="linux/arm64", watch=("libs/a",),
                  build_args={"B": "2"})


def test_paths_and_inputs_of_a_service() -> None:
    assert paths_of(SERVICE) == ("services/web", "services/web/Dockerfile", "libs/a")
    ids = {"services/web": "c", "services/web/Dockerfile": "d", "libs/a": "w", "other": "o"}
    inputs = inputs_for(SERVICE, ids)
    assert inputs == BuildInputs(context="c", dockerfile="d", watch={"libs/a": "w"},
                                 build_args={"B": "2"}, platform="linux/arm64")


def test_an_unrelated_path_does_not_change_a_service_key() -> None:
    ids = {"services/web": "c", "services/web/Dockerfile": "d", "libs/a": "w"}
    key = build_key(inputs_for(SERVICE, ids))
    assert build_key(inputs_for(SERVICE, {**ids, "services/other": "x"})) == key
    assert build_key(inputs_for(SERVICE, {**ids, "libs/a": "w2"})) != key
