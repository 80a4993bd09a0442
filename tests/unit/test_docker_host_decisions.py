"""The docker_host target's pure parts, as tables: the host string parsed (or refused), the
ssh command line built from it, the decisions (step, swap mode, stale lock, health verdict)
and the engine's timestamps and port specs."""

from __future__ import annotations

import pytest

from release.adapters.docker_host import _ports, engine_time
from release.adapters.docker_host_tunnel import ssh_command
from release.config.docker_host import (
    Endpoint,
    HostRefusedError,
    parse_host,
    port_problem,
    secret_file_problem,
)
from release.config.model import ContainerHealth, DockerHostDeployment
from release.planning import docker_swap
from release.planning.docker_swap import Container

PARSED = [
    ("ssh://deploy@vm.example.com", Endpoint("ssh", "/var/run/docker.sock", "vm.example.com",
                                             "deploy", None)),
    ("ssh://vm", Endpoint("ssh", "/var/run/docker.sock", "vm", None, None)),
    ("ssh://deploy@10.0.0.5:2222", Endpoint("ssh", "/var/run/docker.sock", "10.0.0.5",
                                            "deploy", 2222)),
    ("ssh://d@[2001:db8::5]:22/run/user/1000/docker.sock",
     Endpoint("ssh", "/run/user/1000/docker.sock", "2001:db8::5", "d", 22)),
    ("unix:///var/run/docker.sock", Endpoint("unix", "/var/run/docker.sock")),
]


@pytest.mark.parametrize(("text", "endpoint"), PARSED)
def test_hosts_parse(text: str, endpoint: Endpoint) -> None:
    assert parse_host(text) == endpoint


REFUSED = [
    ("tcp://10.0.0.5:2375", "is not ssh:// or unix://"),
    ("ssh://-oProxyCommand=sh@vm", "not a plain login name"),
    ("ssh://deploy@-oProxyCommand=sh", "not a DNS name"),
    ("ssh://deploy@vm -oX=y", "space or a control character"),
    ("ssh://deploy@vm\n", "control character"),
    ("ssh://deploy@vm:0", "from 1 to 65535"),
    ("ssh://deploy@vm:65536", "from 1 to 65535"),
    ("ssh://deploy@169.254.169.254", "link-local"),
    ("ssh://deploy@[fe80::1]", "link-local"),
    ("ssh://deploy@224.0.0.1", "multicast"),
    ("ssh://deploy@0.0.0.0", "unspecified"),
    ("ssh://deploy@[::1", "closing ']'"),
    ("ssh://deploy@[::1]x", "only :PORT"),
    ("ssh://a@b@vm", "not a plain login name"),
    ("ssh://deploy@vm/../../etc/x", "without '..'"),
    ("unix://relative", "absolute path"),
    ("unix:///a//b", "absolute path"),
    ("ssh://deploy@" + "a" * 64 + ".example", "not a DNS name"),
]


@pytest.mark.parametrize(("text", "why"), REFUSED)
def test_hosts_refused(text: str, why: str) -> None:
    with pytest.raises(HostRefusedError) as found:
        parse_host(text)
    assert why in str(found.value)


def test_the_host_follows_a_double_dash_and_every_value_is_its_own_argument() -> None:
    args = ssh_command(parse_host("ssh://deploy@vm.example.com:2222/run/d.sock"),
                       "/tmp/x/docker.sock", "/etc/release/ssh_config")
    assert args[:3] == ["ssh", "-F", "/etc/release/ssh_config"]
    assert args[-2:] == ["--", "vm.example.com"]
    assert args[args.index("-p"):args.index("-p") + 2] == ["-p", "2222"]
    assert args[args.index("-l"):args.index("-l") + 2] == ["-l", "deploy"]
    assert "/tmp/x/docker.sock:/run/d.sock" in args
    assert "BatchMode=yes" in args
    assert "-F" not in ssh_command(parse_host("ssh://vm"), "/tmp/s", None)


@pytest.mark.parametrize(("port", "why"), [
    ("6000:80", None), ("127.0.0.1:6000:80/udp", None), ("6000", "is not"),
    ("0:80", "1 to 65535"), ("6000:80/sctp", "is not"), ("999.1.1.1:6000:80", "IPv4"),
])
def test_port_specs(port: str, why: str | None) -> None:
    found = port_problem(port)
    assert (found is None) if why is None else (why in (found or ""))


@pytest.mark.parametrize(("path", "ok"), [
    ("/etc/release/key", True), ("etc/key", False), ("/etc/../root/key", False),
    ("/etc/key:/x:rw", False), ("/etc//key", False),
])
def test_secret_files(path: str, ok: bool) -> None:
    assert (secret_file_problem(path) is None) is ok


def test_ports_for_the_sdk() -> None:
    assert _ports(("6000:80", "127.0.0.1:7000:81/udp")) == {
        "80/tcp": 6000, "81/udp": ("127.0.0.1", 7000)}


@pytest.mark.parametrize(("text", "seconds"), [
    ("2026-12-06T07:59:00.123456789Z", 1796543940.123456),
    ("2026-12-06T07:59:00Z", 1796543940.0),
    ("2026-12-06T08:59:00.5+01:00", 1796543940.5),
])
def test_engine_time(text: str, seconds: float) -> None:
    assert engine_time(text) == pytest.approx(seconds)


HOST = DockerHostDeployment(host="ssh://vm", name="detector", ports=("6000:80",),
                            environment={"MODE": "batch"},
                            health=ContainerHealth("/health", 80, 60))
IMAGE = "r.example/detector@sha256:" + "a" * 64


def container(*, image: str = IMAGE, spec: str | None = None, running: bool = True,
              status: str = "running") -> Container:
    return Container("detector", "c1", image, running, {
        docker_swap.IMAGE_LABEL: image,
        docker_swap.SPEC_LABEL: spec or docker_swap.spec_key(HOST)}, status)


@pytest.mark.parametrize(("image", "now", "action", "reason"), [
    (IMAGE, None, "deploy", "no container yet"),
    (None, container(), "deploy", "new image"),
    (IMAGE, container(), "none", "up to date"),
    (IMAGE, container(image=IMAGE.replace("a", "b")), "deploy", "host runs another image"),
    (IMAGE, container(spec="0" * 16), "deploy", "container settings differ"),
    (IMAGE, container(running=False, status="exited"), "deploy", "container is exited"),
])
def test_step(image: str | None, now: Container | None, action: str, reason: str) -> None:
    step = docker_swap.step("detector", image, HOST, now)
    assert (step.action, step.reason) == (action, reason)


def test_a_changed_variable_changes_the_spec_key() -> None:
    other = DockerHostDeployment(host="ssh://vm", name="detector", ports=("6000:80",),
                                 environment={"MODE": "stream"},
                                 health=ContainerHealth("/health", 80, 60))
    assert docker_swap.spec_key(other) != docker_swap.spec_key(HOST)


@pytest.mark.parametrize(("ports", "network", "mode"), [
    (("6000:80",), None, "stop-first"), ((), "host", "stop-first"),
    ((), None, "beside"), ((), "none", "beside"),
])
def test_swap_mode(ports: tuple[str, ...], network: str | None, mode: str) -> None:
    dep = DockerHostDeployment(host="ssh://vm", name="d", ports=ports, network=network)
    assert docker_swap.swap_mode(dep) == mode


@pytest.mark.parametrize(("age", "stale"), [(0, False), (1800, False), (1801, True)])
def test_lock_staleness(age: float, stale: bool) -> None:
    assert docker_swap.lock_is_stale(1000.0, 1000.0 + age) is stale


@pytest.mark.parametrize(("running", "ok", "elapsed", "probe", "verdict"), [
    (False, None, 0, True, "failed"),
    (True, True, 1, True, "healthy"),
    (True, False, 1, True, "wait"),
    (True, False, 60, True, "failed"),
    (True, None, 1, False, "wait"),
    (True, None, 3, False, "healthy"),
    (False, None, 5, False, "failed"),
])
def test_health_verdict(running: bool, ok: bool | None, elapsed: float, probe: bool,
                        verdict: str) -> None:
    assert docker_swap.health_verdict(running=running, probe_ok=ok, started=100.0,
                                      now=100.0 + elapsed, timeout=60,
                                      has_probe=probe) == verdict


def test_the_probe_url_is_an_argument_not_shell_text() -> None:
    command = docker_swap.probe_command(8080, "/health?x=1&y=2")
    assert command[:2] == ["sh", "-c"]
    assert "$1" in command[2]
    assert "health" not in command[2]
    assert command[-1] == "http://127.0.0.1:8080/health?x=1&y=2"


def test_describe() -> None:
    state = docker_swap.HostState(container())
    assert docker_swap.describe(state) == "detector aaaaaaaaaaaa"
    assert docker_swap.describe(docker_swap.HostState(None)) == "no container"


def test_a_container_released_from_another_config_key_is_released_again() -> None:
    now = Container("detector", "c1", IMAGE, True, {
        docker_swap.IMAGE_LABEL: IMAGE, docker_swap.SPEC_LABEL: docker_swap.spec_key(HOST),
        "release:config-key": "old"})
    assert docker_swap.step("detector", IMAGE, HOST, now, "new").reason == \
        "release config differs"
    assert docker_swap.step("detector", IMAGE, HOST, now, "old").action == "none"
    assert docker_swap.step("detector", IMAGE, HOST, now, None).action == "none"


@pytest.mark.parametrize(("host", "ports", "network", "expected"), [
    ("vm.example.com", ("6000:80",), None, "http://vm.example.com:6000"),
    ("vm", ("127.0.0.1:6000:80",), None, "http://127.0.0.1:6000"),
    ("vm", ("53:53/udp", "6000:80/tcp"), None, "http://vm:6000"),
    ("2001:db8::5", ("6000:80",), None, "http://[2001:db8::5]:6000"),
    ("", (), "host", "http://127.0.0.1:80"),
    ("vm", (), None, None),
])
def test_url(host: str, ports: tuple[str, ...], network: str | None,
             expected: str | None) -> None:
    dep = DockerHostDeployment(host="ssh://vm", name="d", ports=ports, network=network,
                               health=ContainerHealth())
    assert docker_swap.url(host, dep) == expected
