"""Where each service's connections go: its production listener and its test listener.

Every service with a port mapping gets two listeners on 127.0.0.1 (release/local/ecs/
listener.py): the production one (the service's URL) and the test one (ECS blue/green's test
traffic route). Outside a progressive deployment both send connections to the healthy tasks
of the newest deployment having any. During a BLUE_GREEN, CANARY or LINEAR deployment the
production listener sends ``Progress.production`` percent of new connections to the new
revision's tasks and the rest to the old one's (a weighted round robin), and the test
listener sends all of them to the new revision once its test traffic shift is done.
The ports are kept in a file, so a restarted plane listens where it did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from release.local.ecs import progressive, rollout
from release.local.ecs.listener import ServiceListener
from release.local.ecs.model import ServiceRecord

Key = tuple[str, str]  # (cluster name, service name)
TEST = "#test"  # the test listener's key suffix in the ports file


def weighted(new: Sequence[int], old: Sequence[int], percent: float) -> list[int]:
    """A round-robin list sending ``percent`` of picks to ``new`` and the rest to ``old``,
    the new ones spread evenly (10% over 1 new and 1 old task: 1 new in every 10)."""
    if percent >= 100.0 or not old:
        return list(new)
    if percent <= 0.0 or not new:
        return list(old)
    tenths = round(percent * 10)
    share = math.gcd(tenths, 1000)
    slots, picks_new = 1000 // share, tenths // share
    out: list[int] = []
    taken_new = taken_old = 0
    for slot in range(slots):
        if (slot + 1) * picks_new // slots > taken_new:
            out.append(new[taken_new % len(new)])
            taken_new += 1
        else:
            out.append(old[taken_old % len(old)])
            taken_old += 1
    return out


def _pids(record: ServiceRecord) -> dict[str, list[int]]:
    """Deployment id -> the network-namespace PIDs of its healthy tasks."""
    found: dict[str, list[int]] = {}
    for deployment_id, state in record.tasks.values():
        if state is not None and state.netns_pid and rollout.is_healthy(state):
            found.setdefault(deployment_id, []).append(state.netns_pid)
    return found


def targets(record: ServiceRecord) -> tuple[list[int], list[int]]:
    """(production targets, test targets) for the service now."""
    pids = _pids(record)
    newest = next((pids[d.id] for d in record.deployments if pids.get(d.id)), [])
    p = record.primary.progress if record.deployments else None
    if p is None or not progressive.active(record):
        return newest, newest
    new, old = pids.get(record.primary.id, []), pids.get(p.blue or "", [])
    return weighted(new, old, p.production), weighted(new, old, p.test)


class Listeners:
    """Each service's production and test listeners, with their ports kept in a file."""

    def __init__(self, ports_file: Path) -> None:
        self._ports_file = ports_file
        self._ports: dict[str, int] = self._read()
        self._open: dict[str, ServiceListener] = {}

    def host_ports(self, key: Key, body: Mapping[str, Any]) -> dict[str, int]:
        """Container -> its production listener's port, for the first port mapping (both
        listeners are opened for it)."""
        for container in body.get("containerDefinitions", []):
            for mapping in container.get("portMappings") or []:
                if isinstance(mapping.get("containerPort"), int):
                    port = self._listener("/".join(key), mapping["containerPort"]).port
                    self._listener("/".join(key) + TEST, mapping["containerPort"])
                    return {str(container.get("name")): port}
        return {}

    def test_port(self, key: Key) -> int | None:
        """The service's test listener port, once it has one."""
        found = self._open.get("/".join(key) + TEST)
        return found.port if found else None

    def aim(self, key: Key, record: ServiceRecord) -> None:
        """Point both listeners of the service at its tasks as ``targets`` says."""
        production, test = targets(record)
        for name, pids in (("/".join(key), production), ("/".join(key) + TEST, test)):
            listener = self._open.get(name)
            if listener is not None:
                listener.set_targets(pids)

    def close(self, key: Key | None = None) -> None:
        """Close one service's listeners, or every one."""
        names = [n for n in self._open if key is None or n.split(TEST)[0] == "/".join(key)]
        for name in names:
            self._open.pop(name).close()

    def _listener(self, name: str, container_port: int) -> ServiceListener:
        listener = self._open.get(name)
        if listener is not None and listener.container_port == container_port:
            return listener
        if listener is not None:
            listener.close()
        listener = ServiceListener(self._ports.get(name, 0), container_port)
        self._open[name] = listener
        if self._ports.get(name) != listener.port:
            self._ports[name] = listener.port
            self._ports_file.write_text(json.dumps(self._ports, indent=1), encoding="utf-8")
        return listener

    def _read(self) -> dict[str, int]:
        try:
            data = json.loads(self._ports_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items() if isinstance(v, int)} if isinstance(
            data, dict) else {}
