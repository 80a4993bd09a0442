"""Hostile docker_host blocks: a host string that would send the engine's API somewhere
unencrypted (tcp://), smuggle an ssh option (``-oProxyCommand=...``) or a second argument,
reach a cloud's metadata address; ports, networks and secret files that would reach past
the container; plaintext credentials; health paths that are shell text. Each is refused
with exit 2, a located message and a hint, having opened nothing outside and connected
nowhere. Private addresses stay allowed: a team's VM usually has one."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import BASE, Case, check, check_no_injected_commands, ids, run

ENV = "environments/dev.yaml"
AT = "services.vm.docker_host"
SECRET = "hunter2-correct-horse-battery"
CONTROL = "contains the control character"
GOOD = {"host": "ssh://deploy@vm.example.com", "ports": ["6000:80"],
        "env": {"LOG_LEVEL": "info"}, "health": {"path": "/health", "port": 80}}
RELEASE = BASE["release.yaml"] + "  vm:\n    context: services/batch\n    docker_host: {}\n"


def env_text(block: dict[str, Any] | None) -> str:
    data = yaml.safe_load(BASE[ENV])
    if block is not None:
        data["services"]["vm"] = {"docker_host": block}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=False, width=1000)


def dh(name: str, changes: dict[str, Any], message: str, field: str | None = None,
       **extra: Any) -> Case:
    """A case whose dev environment gives service ``vm`` the GOOD block with ``changes``
    (a None value removes the key)."""
    block = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            block.pop(key, None)
        else:
            block[key] = value
    field = field if field is not None else f"{AT}.{next(iter(changes))}"
    return Case(name, message, file=ENV, field=field,
                write={"release.yaml": RELEASE, ENV: env_text(block)}, **extra)


def host(name: str, value: str, message: str, **extra: Any) -> Case:
    return dh(name, {"host": value}, message, **extra)


REFUSED = "host is refused"
SCHEME = "is not a valid value here"
GITHUB = {"GITHUB_ACTIONS": "true"}

CASES = [
    host("tcp-to-anywhere", "tcp://10.0.0.5:2375", SCHEME),
    host("http-url", "http://vm.example.com", SCHEME),
    host("no-scheme", "deploy@vm.example.com", SCHEME),
    host("ssh-option-as-user", "ssh://-oProxyCommand=sh@vm.example.com", REFUSED),
    host("ssh-option-as-host", "ssh://deploy@-oProxyCommand=touch", REFUSED),
    host("ssh-option-after-space", "ssh://deploy@vm.example.com -oProxyCommand=x", SCHEME),
    host("shell-in-user", "ssh://a;id@vm.example.com", REFUSED),
    host("shell-in-host", "ssh://deploy@vm.example.com;id", REFUSED),
    host("command-substitution", "ssh://deploy@$(id).example.com", REFUSED),
    host("newline-forges-a-command", "ssh://deploy@vm\n::error::INJECTED", CONTROL,
         environ=GITHUB),
    host("escape-character", "ssh://deploy@vm\x1b[31m", CONTROL),
    host("port-zero", "ssh://deploy@vm.example.com:0", REFUSED),
    host("port-too-big", "ssh://deploy@vm.example.com:99999", REFUSED),
    host("port-not-a-number", "ssh://deploy@vm.example.com:22x", REFUSED),
    host("metadata-address", "ssh://deploy@169.254.169.254", REFUSED),
    host("ipv6-link-local", "ssh://deploy@[fe80::1]", REFUSED),
    host("unspecified-address", "ssh://deploy@0.0.0.0", REFUSED),
    host("ipv6-unclosed", "ssh://deploy@[::1", REFUSED),
    host("socket-path-climbs", "ssh://deploy@vm.example.com/var/../../etc/x.sock", REFUSED),
    host("unix-relative", "unix://var/run/docker.sock", REFUSED),
    host("unix-climbs", "unix:///var/run/../../root/x.sock", REFUSED),
    host("unix-odd-characters", "unix:///var/run/docker.sock;id", REFUSED),
    host("two-at-signs", "ssh://a@b@vm.example.com", REFUSED),
    dh("no-host", {"host": None}, "required", field=f"{AT}"),
    dh("name-with-slash", {"name": "../etc"}, SCHEME),
    dh("name-as-option", {"name": "--privileged"}, SCHEME),
    dh("port-with-shell", {"ports": ["6000:80;id"]}, SCHEME, field=f"{AT}.ports[0]"),
    dh("port-zero-published", {"ports": ["0:80"]}, "from 1 to 65535", field=f"{AT}.ports[0]"),
    dh("port-too-big-published", {"ports": ["6000:70000"]}, "from 1 to 65535",
       field=f"{AT}.ports[0]"),
    dh("port-bad-address", {"ports": ["300.1.1.1:6000:80"]}, "not an IPv4 address",
       field=f"{AT}.ports[0]"),
    dh("ports-with-host-network", {"network": "host"}, "publishes no ports"),
    dh("network-with-shell", {"network": "host;id"}, SCHEME),
    dh("network-as-option", {"network": "--privileged"}, SCHEME),
    dh("env-plaintext-password", {"env": {"DB_PASSWORD": SECRET}}, "plaintext credential",
       field=f"{AT}.env.DB_PASSWORD", secret=SECRET),
    dh("env-aws-secret-key", {"env": {"AWS_SECRET_ACCESS_KEY":
                                      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
       "plaintext credential", field=f"{AT}.env.AWS_SECRET_ACCESS_KEY",
       secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    dh("env-value-with-newline", {"env": {"MODE": "x\n::error::INJECTED"}}, CONTROL,
       field=f"{AT}.env.MODE", environ=GITHUB),
    dh("env-name-with-dash", {"env": {"A-B": "x"}}, "is not a valid name here",
       field=f"{AT}.env.A-B"),
    dh("secret-relative-path", {"secrets": {"TOKEN": "etc/token"}}, SCHEME,
       field=f"{AT}.secrets.TOKEN"),
    dh("secret-path-climbs", {"secrets": {"TOKEN": "/etc/../root/.ssh/id_rsa"}},
       "without '..'", field=f"{AT}.secrets.TOKEN"),
    dh("secret-bind-options", {"secrets": {"TOKEN": "/etc/token:/host:rw"}}, SCHEME,
       field=f"{AT}.secrets.TOKEN"),
    dh("secret-clashes-with-env", {"secrets": {"TOKEN": "/etc/token"},
                                   "env": {"TOKEN_FILE": "/x"}},
       "is also set by secret", field=f"{AT}.env.TOKEN_FILE"),
    dh("health-path-shell", {"health": {"path": "/health; rm -rf /", "port": 80}},
       "not a URL path", field=f"{AT}.health.path"),
    dh("health-path-quote", {"health": {"path": '/h"$(id)"', "port": 80}},
       "not a URL path", field=f"{AT}.health.path"),
    dh("health-port-zero", {"health": {"port": 0}}, "must be at least 1",
       field=f"{AT}.health.port"),
    dh("health-port-too-big", {"health": {"port": 70000}}, "must be at most 65535",
       field=f"{AT}.health.port"),
    dh("health-timeout-huge", {"health": {"timeout_seconds": 10**9}},
       "must be at most 3600", field=f"{AT}.health.timeout_seconds"),
    dh("health-unknown-field", {"health": {"command": "rm -rf /"}}, "unknown field",
       field=f"{AT}.health.command"),
    dh("unknown-field", {"privileged": True}, "unknown field", field=f"{AT}.privileged"),
    dh("empty-block", {"host": None, "ports": None, "env": None, "health": None},
       "missing required field 'host'", field=f"{AT}"),
    Case("environment-without-the-block", "must name the host", file=ENV,
         field="services.vm", write={"release.yaml": RELEASE, ENV: env_text(None).replace(
             "services:\n", "services:\n  vm: {}\n", 1)}),
    Case("host-in-release-yaml", "unknown field", file="release.yaml",
         field="services.vm.docker_host.host",
         write={"release.yaml": RELEASE.replace("docker_host: {}",
                                                "docker_host: {host: 'tcp://10.0.0.5:2375'}"),
                ENV: env_text(GOOD)}),
    # allowed: a private address, a loopback one with a port and socket path, a local socket
    dh("private-address-is-allowed", {"host": "ssh://deploy@10.0.0.5"}, "", exit=0),
    dh("loopback-with-port-and-socket", {
        "host": "ssh://deploy@127.0.0.1:2222/run/user/1000/docker.sock"}, "", exit=0),
    dh("ipv6-with-port", {"host": "ssh://deploy@[2001:db8::5]:22"}, "", exit=0),
    dh("unix-socket", {"host": "unix:///var/run/docker.sock"}, "", exit=0),
    dh("secret-file", {"secrets": {"STORAGE_KEY": "/etc/release/dev/storage_key"}}, "",
       exit=0),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_hostile_docker_host_is_refused(case: Case, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    outcome, root = run(case, tmp_path, capsys)
    check(case, outcome, root)
    check_no_injected_commands(case, outcome)
