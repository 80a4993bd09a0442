"""release.planning.buildkey: equal inputs give equal keys, any changed input a new key."""

from __future__ import annotations

from dataclasses import replace

import pytest

from release.config.model import BuildCache, BuildSecret, Service
from release.planning.buildkey import (
    KEY_HEX_CHARS,
    BuildInputs,
    build_key,
    context_of,
    inputs_for,
    paths_of,
)

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


def test_the_context_id_for_the_service_dockerfile_comes_first() -> None:
    # build_ids names a context asked for with its Dockerfile (context_of) by both; a caller
    # that asked for the bare context gets that one.
    assert context_of(SERVICE) == "services/web\0services/web/Dockerfile"
    ids = {"services/web": "c", "services/web/Dockerfile": "d", "libs/a": "w"}
    bare = build_key(inputs_for(SERVICE, ids))
    assert build_key(inputs_for(SERVICE, {**ids, context_of(SERVICE): "c"})) == bare
    own = inputs_for(SERVICE, {**ids, context_of(SERVICE): "ctx-own"})
    assert own.context == "ctx-own"
    assert build_key(own) != bare
    other = replace(SERVICE, dockerfile="services/web/other.Dockerfile")
    assert build_key(inputs_for(other, {**ids, context_of(SERVICE): "ctx-own",
                                        "services/web/other.Dockerfile": "d"})) == bare


def test_an_unrelated_path_does_not_change_a_service_key() -> None:
    ids = {"services/web": "c", "services/web/Dockerfile": "d", "libs/a": "w"}
    key = build_key(inputs_for(SERVICE, ids))
    assert build_key(inputs_for(SERVICE, {**ids, "services/other": "x"})) == key
    assert build_key(inputs_for(SERVICE, {**ids, "libs/a": "w2"})) != key


# Build settings (issue 14) -------------------------------------------------------------------

# The key BASE had before build settings existed: services that set none keep their images.
KEY_BEFORE_BUILD_SETTINGS = "85542188143f34ed113f"


def test_a_service_without_build_settings_keeps_its_key() -> None:
    assert build_key(BASE) == KEY_BEFORE_BUILD_SETTINGS
    unset = replace(BASE, target=None, platforms=(), attestations=False, secret_ids=())
    assert build_key(unset) == KEY_BEFORE_BUILD_SETTINGS
    # One platform in platforms is the image of platform: the same key.
    assert build_key(replace(BASE, platforms=("linux/amd64",))) == KEY_BEFORE_BUILD_SETTINGS


@pytest.mark.parametrize(
    "changed",
    [
        replace(BASE, target="runtime"),
        replace(BASE, platforms=("linux/amd64", "linux/arm64")),
        replace(BASE, attestations=True),
        replace(BASE, secret_ids=("pip-token",)),
    ],
    ids=["target", "platforms", "attestations", "secret-id"],
)
def test_each_build_setting_changes_the_key(changed: BuildInputs) -> None:
    assert build_key(changed) != build_key(BASE)


def test_build_settings_are_told_apart() -> None:
    keys = {build_key(replace(BASE, target="a")), build_key(replace(BASE, target="b")),
            build_key(replace(BASE, platforms=("linux/amd64", "linux/arm64"))),
            build_key(replace(BASE, platforms=("linux/amd64", "linux/arm64"), target="a")),
            build_key(replace(BASE, secret_ids=("a",))),
            build_key(replace(BASE, secret_ids=("a", "b")))}
    assert len(keys) == 6
    # Order of secrets does not matter.
    assert (build_key(replace(BASE, secret_ids=("a", "b")))
            == build_key(replace(BASE, secret_ids=("b", "a"))))


def test_secret_values_cache_builder_and_tags_stay_out_of_the_key() -> None:
    ids = {"services/web": "c", "services/web/Dockerfile": "d", "libs/a": "w"}
    with_env = replace(SERVICE, build_secrets=(BuildSecret("tok", env="TOKEN_A"),))
    with_ssm = replace(SERVICE, build_secrets=(BuildSecret("tok", ssm="/ci/token"),))
    key = build_key(inputs_for(with_env, ids))
    assert build_key(inputs_for(with_ssm, ids)) == key
    others = replace(with_env, tags=("v-${run_number}",), builder="remote",
                     cache=BuildCache(registry=False, gha=True))
    assert build_key(inputs_for(others, ids)) == key
    assert build_key(inputs_for(SERVICE, ids)) != key  # the id is in it


def test_inputs_of_a_service_with_build_settings() -> None:
    ids = {"services/web": "c", "services/web/Dockerfile": "d", "libs/a": "w"}
    service = replace(SERVICE, target="runtime", platforms=("linux/arm64", "linux/amd64"),
                      attestations=True,
                      build_secrets=(BuildSecret("z", env="Z"), BuildSecret("a", file="ci/a")))
    inputs = inputs_for(service, ids)
    assert (inputs.target, inputs.platforms, inputs.attestations, inputs.secret_ids) == (
        "runtime", ("linux/arm64", "linux/amd64"), True, ("a", "z"))
