"""The local Azure's pure parts: Container Apps shapes and rules, probes, revision states,
Entra ID's federated credential matching. Table tests, clocks injected, no I/O."""

from __future__ import annotations

import re
from typing import Any

import pytest

from release.local.azure import apps, entra, probes
from release.local.azure.apps import ApiError, App, Revision
from release.local.azure.replicas import settle

ISSUER = "http://127.0.0.1:5002"
SUBJECT = "repo:acme/detector:environment:local"
DIRECTORY = entra.Directory((entra.Application("tenant", "client", (
    entra.Credential(ISSUER, SUBJECT),)),))


@pytest.mark.parametrize(("base", "patch", "merged"), [
    ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ({"a": {"x": 1, "y": 2}}, {"a": {"y": None}}, {"a": {"x": 1}}),
    ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),  # lists are replaced, not merged
    ({"a": {"x": 1}}, {"a": 5}, {"a": 5}),
])
def test_patch_is_a_json_merge_patch(base: dict[str, Any], patch: dict[str, Any],
                                     merged: dict[str, Any]) -> None:
    assert apps.merge(base, patch) == merged
    assert base != merged or patch == {}  # the base is not changed in place


@pytest.mark.parametrize("template", [
    {},
    {"containers": []},
    {"containers": [{"name": "web"}]},
    {"containers": [{"image": "x"}]},
    {"containers": [{"name": "web", "image": "x"}], "scale": {"minReplicas": -1}},
    {"containers": [{"name": "web", "image": "x"}], "scale": {"maxReplicas": 301}},
    {"containers": [{"name": "web", "image": "x"}], "scale": {"minReplicas": 3,
                                                              "maxReplicas": 2}},
    {"containers": [{"name": "web", "image": "x"}], "revisionSuffix": "../etc"},
    {"containers": [{"name": "web", "image": "x"}], "revisionSuffix": "Upper"},
    {"containers": [{"name": "web", "image": "x"}], "revisionSuffix": "a\nb"},
    {"containers": [{"name": "web", "image": "x"}], "revisionSuffix": "*"},
])
def test_bad_templates_are_refused(template: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as caught:
        apps.check_template(template)
    assert (caught.value.status, caught.value.code) == (400, "ContainerAppInvalidRequest")


@pytest.mark.parametrize("configuration", [
    {"activeRevisionsMode": "Several"},
    {"ingress": {"targetPort": 0}},
    {"ingress": {"targetPort": 70000}},
    {"ingress": {"targetPort": "80"}},
    {"ingress": {"targetPort": 80, "traffic": [{"latestRevision": True, "weight": 90}]}},
    {"ingress": {"targetPort": 80, "traffic": [{"revisionName": "a", "weight": 150},
                                               {"revisionName": "b", "weight": -50}]}},
    {"ingress": {"targetPort": 80, "traffic": [{"revisionName": "a", "weight": 50.5},
                                               {"revisionName": "b", "weight": 49.5}]}},
])
def test_bad_configurations_are_refused(configuration: dict[str, Any]) -> None:
    with pytest.raises(ApiError):
        apps.check_configuration(configuration)


def test_revision_names_are_the_app_and_a_suffix() -> None:
    assert apps.revision_name("web", {"revisionSuffix": "v2"}, {}) == "web--v2"
    assert re.fullmatch(r"web--[a-z0-9]{7}", apps.revision_name("web", {}, {}))
    with pytest.raises(ApiError, match="already exists"):
        apps.revision_name("web", {"revisionSuffix": "v2"}, {"web--v2": object()})


def _app(mode: str = "Single", traffic: list[dict[str, Any]] | None = None) -> App:
    app = App("sub", "rg", "web", "local", {"activeRevisionsMode": mode, "ingress": {
        "targetPort": 80, "traffic": traffic or []}}, {}, 0.0)
    for name in ("web--a", "web--b", "web--c"):
        app.revisions[name] = Revision(name, {}, 0.0)
    app.latest, app.latest_ready = "web--c", "web--b"
    return app


@pytest.mark.parametrize(("mode", "traffic", "expected"), [
    ("Single", [], {"web--b": 100}),  # the latest READY revision, not the latest
    ("Multiple", [{"latestRevision": True, "weight": 100}], {"web--b": 100}),
    ("Multiple", [{"revisionName": "web--a", "weight": 80},
                  {"latestRevision": True, "weight": 20}], {"web--a": 80, "web--b": 20}),
    ("Multiple", [{"revisionName": "web--gone", "weight": 50},
                  {"revisionName": "web--a", "weight": 50}], {"web--a": 50}),
])
def test_traffic_weights(mode: str, traffic: list[dict[str, Any]],
                         expected: dict[str, int]) -> None:
    assert apps.weights(_app(mode, traffic)) == expected


def test_no_ready_revision_gets_no_traffic() -> None:
    app = _app()
    app.latest_ready = ""
    assert apps.weights(app) == {}


@pytest.mark.parametrize(("shares", "pids", "counts"), [
    ({"a": 50, "b": 50}, {"a": [1], "b": [2]}, {1: 1, 2: 1}),
    ({"a": 80, "b": 20}, {"a": [1], "b": [2]}, {1: 4, 2: 1}),
    ({"a": 50, "b": 50}, {"a": [1, 2], "b": [3]}, {1: 1, 2: 1, 3: 2}),
    ({"a": 50, "b": 50}, {"a": [1], "b": []}, {1: 1}),  # no ready replica: no share
    ({"a": 100}, {}, {}),
])
def test_the_listener_round_robin_follows_the_weights(
        shares: dict[str, int], pids: dict[str, list[int]], counts: dict[int, int]) -> None:
    spread = apps.spread(shares, pids)
    assert {pid: spread.count(pid) for pid in set(spread)} == counts


def test_get_hides_secret_values_and_shows_the_fqdn() -> None:
    app = _app()
    app.port = 41000
    app.configuration["secrets"] = [{"name": "db", "value": "s3cr3t"}]
    shown = apps.app_json(app)
    assert shown["properties"]["configuration"]["secrets"] == [{"name": "db"}]
    assert shown["properties"]["configuration"]["ingress"]["fqdn"] == "127.0.0.1:41000"
    assert app.configuration["secrets"][0]["value"] == "s3cr3t"  # kept for the replicas
    assert shown["properties"]["latestReadyRevisionName"] == "web--b"


def test_probes_defaults_scaling_and_azure_default_probe() -> None:
    [probe] = probes.probes_of({"probes": [{"type": "Readiness",
                                            "httpGet": {"path": "/health", "port": 8080}}]},
                               80, scale=0.1, min_period=0.5)
    assert (probe.kind, probe.port, probe.path) == ("Readiness", 8080, "/health")
    assert (probe.period, probe.failure_threshold, probe.success_threshold) == (1.0, 3, 1)
    [default] = probes.probes_of({}, 80)
    assert (default.kind, default.port, default.path) == ("Readiness", 80, None)
    assert probes.probes_of({}, None) == []


@pytest.mark.parametrize("raw", [
    {"periodSeconds": -5}, {"periodSeconds": 10**9}, {"failureThreshold": 0},
    {"failureThreshold": "3"}, {"initialDelaySeconds": 3600}, {"timeoutSeconds": None},
])
def test_out_of_range_probe_values_take_azures_defaults(raw: dict[str, Any]) -> None:
    [probe] = probes.probes_of({"probes": [{"type": "Liveness", "tcpSocket": {"port": 80},
                                            **raw}]}, 80, scale=1, min_period=0.5)
    assert (probe.period, probe.failure_threshold, probe.initial_delay) == (10, 3, 0)


def _run(probe: probes.Probe, results: list[str | None]) -> probes.Tally:
    tally = probes.Tally()
    for now, error in enumerate(results):
        tally = probes.record(tally, error, float(now))
    return tally


READY = probes.Probe("Readiness", 80, "/health", 0, 1, 1, 3, 2)


@pytest.mark.parametrize(("results", "verdict"), [
    ([], "pending"),
    ([None], "pending"),  # successThreshold 2
    ([None, None], "ready"),
    (["HTTP probe failed with statuscode: 500"] * 2, "pending"),
    (["HTTP probe failed with statuscode: 500"] * 3, "failed"),
    (["x", "x", None, "x", "x"], "pending"),  # consecutive failures only
])
def test_a_replicas_verdict(results: list[str | None], verdict: str) -> None:
    got, why = probes.verdict([READY], [_run(READY, results)])
    assert got == verdict
    if verdict == "failed":
        assert why == "Readiness probe failed: HTTP probe failed with statuscode: 500"


def test_probes_wait_their_initial_delay_and_period() -> None:
    probe = probes.Probe("Liveness", 80, "/", 5, 2, 1, 3, 1)
    assert not probes.due(probe, probes.Tally(), started_at=0, now=4)
    assert probes.due(probe, probes.Tally(), started_at=0, now=5)
    assert not probes.due(probe, probes.Tally(last_at=5), started_at=0, now=6)
    assert probes.due(probe, probes.Tally(last_at=5), started_at=0, now=7)


@pytest.mark.parametrize(("counts", "failed", "age", "states", "reason"), [
    ((1, 1), [], 1.0, ("Provisioned", "Running", "Healthy"), ""),
    ((1, 0), [], 1.0, ("Provisioning", "Processing", "None"), ""),
    ((1, 0), ["Readiness probe failed: HTTP probe failed with statuscode: 404"], 5.0,
     ("Provisioned", "Failed", "Unhealthy"),
     "Deployment Progress Deadline Exceeded. 0/1 replicas ready. Readiness probe failed"),
    ((2, 1), [], 500.0, ("Provisioned", "Failed", "Unhealthy"),
     "Deployment Progress Deadline Exceeded. 1/2 replicas ready."),
    ((1, 0), ["CannotPullContainerError: pull access denied"], 1.0,
     ("Failed", "Failed", "Unhealthy"), "CannotPullContainerError"),
])
def test_revision_states(counts: tuple[int, int], failed: list[str], age: float,
                         states: tuple[str, str, str], reason: str) -> None:
    revision = Revision("web--a", {}, 0.0)
    settle(revision, counts, failed, "", age)
    assert (revision.provisioning, revision.running, revision.health) == states
    assert reason in revision.error + revision.details


def test_a_running_revision_that_loses_a_replica_is_degraded() -> None:
    revision = Revision("web--a", {}, 0.0, provisioning="Provisioned", running="Running")
    settle(revision, (2, 1), ["Container 'web' was terminated with exit code '1'"], "", 9.0)
    assert (revision.running, revision.health) == ("Degraded", "Unhealthy")


CLAIMS = {"iss": ISSUER, "sub": SUBJECT, "aud": "api://AzureADTokenExchange"}


@pytest.mark.parametrize(("change", "code", "words"), [
    ({"iss": "https://token.actions.githubusercontent.com"}, 700211, "assertion issuer"),
    ({"sub": "repo:acme/detector:environment:prod"}, 700213, "assertion subject"),
    ({"sub": "repo:ACME/detector:environment:local"}, 700213, "assertion subject"),  # case
    ({"aud": "sts.amazonaws.com"}, 700212, "assertion audience 'sts.amazonaws.com'"),
    ({"aud": ["x", "y"]}, 700212, "assertion audience 'x, y'"),
])
def test_federated_credentials_match_as_entra_does(change: dict[str, Any], code: int,
                                                   words: str) -> None:
    with pytest.raises(entra.EntraError) as caught:
        entra.match(DIRECTORY, "tenant", "client", {**CLAIMS, **change})
    assert (caught.value.status, caught.value.code) == (401, code)
    assert words in caught.value.description
    body = caught.value.body(0.0)
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")


def test_an_unknown_app_registration_is_refused() -> None:
    with pytest.raises(entra.EntraError) as caught:
        entra.match(DIRECTORY, "tenant", "other-client", CLAIMS)
    assert caught.value.code == 700016


def test_a_matching_assertion_logs_in() -> None:
    assert entra.match(DIRECTORY, "tenant", "client", CLAIMS).client_id == "client"


@pytest.mark.parametrize(("form", "code"), [
    ({"grant_type": ["password"]}, 70003),
    ({"grant_type": ["client_credentials"], "client_assertion": ["x"]}, 7000218),
    ({"grant_type": ["client_credentials"], "client_assertion": ["x"],
      "client_assertion_type": [entra.ASSERTION_TYPE], "scope": ["https://x/"]}, 1002012),
    ({"grant_type": ["client_credentials"], "client_assertion": ["not.a.jwt"],
      "client_assertion_type": [entra.ASSERTION_TYPE], "scope": ["https://x/.default"]},
     50027),
])
def test_bad_token_requests(form: dict[str, list[str]], code: int) -> None:
    tokens = entra.Tokens(lambda: 0.0)
    with pytest.raises(entra.EntraError) as caught:
        entra.token_request(form, "tenant", DIRECTORY, lambda _iss: {"keys": []}, tokens)
    assert caught.value.code == code


def test_tokens_expire_on_the_injected_clock() -> None:
    now = [1000.0]
    tokens = entra.Tokens(lambda: now[0])
    token, lifetime = tokens.issue(DIRECTORY.applications[0], 60)
    assert (lifetime, tokens.check(token)) == (60, None)
    now[0] = 1059.0
    assert tokens.check(token) is None
    now[0] = 1060.0
    assert tokens.check(token) == "ExpiredAuthenticationToken"
    assert tokens.check("forged") == "InvalidAuthenticationToken"


def test_the_directory_file_round_trips(tmp_path: Any) -> None:
    path = tmp_path / "entra.json"
    assert entra.read_directory(path) == entra.Directory()
    made = entra.with_credential(entra.Directory(token_lifetime_seconds=120), "t", "c",
                                 entra.Credential(ISSUER, SUBJECT))
    again = entra.with_credential(made, "t", "c", entra.Credential(ISSUER, SUBJECT))
    assert again == made  # no duplicate credential
    entra.write_directory(path, made)
    assert entra.read_directory(path) == made
    assert path.stat().st_mode & 0o077 == 0


class _NoRuntime:
    """Nothing is started: these requests are refused before any replica would be."""

    def start(self, spec: Any) -> None:
        raise AssertionError("a refused request started a replica")


@pytest.mark.parametrize("name", [
    "../etc", "Web", "a--b", "x" * 33, "a\nb", "web*", "-web", "web-", "1web", "we b", "",
])
def test_hostile_app_names_are_refused(name: str) -> None:
    from release.local.azure.control import ContainerApps
    from release.local.azure.replicas import Runner

    control = ContainerApps("sub", Runner(_NoRuntime(), None, lambda: 0.0),  # type: ignore[arg-type]
                            lambda *_: None, lambda: 0.0)
    control.put_group("sub", "rg", {})
    with pytest.raises(ApiError) as caught:
        control.put("sub", "rg", name, {"properties": {"template": {
            "containers": [{"name": "web", "image": "x"}]}}})
    assert caught.value.status == 400


def test_another_subscription_or_group_is_not_found() -> None:
    from release.local.azure.control import ContainerApps
    from release.local.azure.replicas import Runner

    control = ContainerApps("sub", Runner(_NoRuntime(), None, lambda: 0.0),  # type: ignore[arg-type]
                            lambda *_: None, lambda: 0.0)
    with pytest.raises(ApiError, match="SubscriptionNotFound"):
        control.app("other", "rg", "web")
    with pytest.raises(ApiError, match="ResourceGroupNotFound"):
        control.app("sub", "rg", "web")
