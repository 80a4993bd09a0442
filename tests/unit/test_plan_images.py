"""`release plan --find-images`: images already in their registry get no build job.

The registry side is scripted here (logins and manifest HEADs); the e2e test
`test_plan_after_a_release_is_empty_and_sees_a_config_only_change` runs it against the
local cloud's real registry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from release.adapters.registry import Login
from release.commands.plan import NO_IMAGE, Result
from release.config import load_config
from release.engine import image_lookup as plan_images
from release.engine import images
from release.errors import ReleaseError
from release.planning.reconcile import Entry

REPO = Path(__file__).resolve().parents[2]
ENTRIES = (Entry("autovision", "deployed differs", "k-autovision"),
           Entry("coral-restoration", "config differs", "k-restoration"),
           Entry("quetzal", "not deployed", "k-quetzal"))


def _find(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Any],
          entries: tuple[Entry, ...] = ENTRIES) -> plan_images.Found:
    config = load_config(REPO, ("local",))
    env = config.environments["local"]
    looked: list[str] = []

    def logins(_ctx: Any, chosen: Any) -> images.Logins:
        return {env.registry_of(d): Login("127.0.0.1:5001", "AWS", "token") for d in chosen}

    def manifest_digest(_reg: Any, login: Login, repository: str, tag: str,
                        _ca: str | None) -> str | None:
        assert login.password == "token"
        looked.append(tag)
        answer = answers[tag]
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    monkeypatch.setattr(images, "logins", logins)
    monkeypatch.setattr(images, "manifest_digest", manifest_digest)
    found = plan_images.find(config, env, entries, aws=None, commit="c0ffee", environ={})
    assert sorted(looked) == sorted(e.build_key for e in entries if e.build_key != NO_IMAGE)
    return found


def test_found_missing_and_unreadable_images(monkeypatch: pytest.MonkeyPatch) -> None:
    found = _find(monkeypatch, {"k-autovision": "sha256:aa", "k-restoration": None,
                                "k-quetzal": ReleaseError("registry answered 500")})
    assert [found.status(e.service) for e in ENTRIES] == ["found", "missing", "unchecked"]
    assert "registry answered 500" in found.note()
    result = Result("local", "c0ffee", "reconcile", ENTRIES, (), images=found)
    # Only the image in the registry is left out: an unreadable one is built to be safe.
    assert [e.service for e in result.to_build()] == ["coral-restoration", "quetzal"]
    outputs = result.github_outputs()
    assert outputs["count"] == "3"
    assert outputs["services"] == "autovision coral-restoration quetzal"
    assert outputs["build-count"] == "2"
    assert [row["service"] for row in json.loads(outputs["matrix"])["include"]] == [
        "coral-restoration", "quetzal"]
    rows = {row["service"]: row for row in json.loads(result.to_json())["data"]["services"]}
    assert rows["autovision"]["image"] == "found"
    assert rows["autovision"]["digest"] == "sha256:aa"
    assert rows["quetzal"]["image"] == "unchecked"
    assert "1 image(s) to build" not in result.to_text()
    assert "2 image(s) to build, 1 already in the registry" in result.to_text()
    assert json.loads(result.to_json())["data"]["image_lookup_seconds"] == 0.0


def test_no_registry_answering_leaves_every_build_job(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(_ctx: Any, _chosen: Any) -> images.Logins:
        raise ReleaseError("cannot reach registry 127.0.0.1:5001")

    monkeypatch.setattr(images, "logins", refused)
    config = load_config(REPO, ("local",))
    found = plan_images.find(config, config.environments["local"], ENTRIES, None, "c0ffee",
                             environ={})
    assert {found.status(e.service) for e in ENTRIES} == {"unchecked"}
    assert "cannot reach registry" in found.note()
    result = Result("local", "c0ffee", "reconcile", ENTRIES, (), images=found)
    assert result.github_outputs()["build-count"] == "3"


def test_a_service_without_an_image_needs_no_build_job(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = (*ENTRIES[:1], Entry("quetzal", "config differs", NO_IMAGE))
    found = _find(monkeypatch, {"k-autovision": None}, entries)
    result = Result("local", "c0ffee", "reconcile", entries, (), images=found)
    assert [e.service for e in result.to_build()] == ["autovision"]


def test_without_find_images_every_planned_service_gets_a_build_job() -> None:
    result = Result("local", "c0ffee", "reconcile", ENTRIES, ())
    assert result.github_outputs()["build-count"] == "3"
    assert len(json.loads(result.to_matrix())[0]["include"]) == 3
    assert "image" not in json.loads(result.to_json())["data"]["services"][0]
