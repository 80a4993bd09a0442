"""A container definition's resources and Linux options as Docker Engine API arguments, the
way the ECS agent maps them. Pure: no I/O.

* ``cpu`` (container, 1/1024 vCPU) -> ``cpu_shares`` (at least 2, as the agent sets it); the
  task's ``cpu`` -> a hard limit (``nano_cpus``) on each container, since a Fargate task
  cannot use more than its cpu. A limit above the engine's CPUs is lowered to them, and
  said so (a note the runtime logs), never silently.
* ``memory`` (MiB) -> ``mem_limit`` with no swap (Fargate has none), so a container over it
  is OOM-killed; without one, the task's ``memory``. ``memoryReservation`` ->
  ``mem_reservation``. Each container is capped on its own: the task's memory shared by all
  of them is not modelled.
* ``readonlyRootFilesystem`` -> ``read_only``; ``ulimits``; ``linuxParameters``:
  ``initProcessEnabled`` -> ``init``, ``capabilities`` -> ``cap_add``/``cap_drop``,
  ``sharedMemorySize`` -> ``shm_size``, ``tmpfs``; ``pseudoTerminal``/``interactive`` ->
  ``tty``/``stdin_open``; ``stopTimeout`` -> ``stop_timeout``; ``dockerLabels`` -> labels.

Values ECS's RegisterTaskDefinition refuses (a container memory under 6 MiB, a reservation
above the limit, containers' memory or cpu above the task's) raise ``ResourceError``: the
task fails to start saying which value and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from release.local.ecs import ordering
from release.local.ecs.model import Timing

MIB = 1024 * 1024
MIN_CONTAINER_MEMORY = 6  # MiB: the least Docker (and so ECS) lets a container have
MIN_CPU_SHARES = 2  # the kernel's least; the agent raises 0 and 1 to it
NANO_PER_VCPU = 1_000_000_000
FARGATE_CAPABILITIES = ("SYS_PTRACE",)  # the only capability Fargate lets a container add


class ResourceError(ValueError):
    """A cpu or memory value ECS would refuse (the message says which and why)."""


def task_units(value: Any, unit: str) -> int | None:
    """A task-level ``cpu`` ("256", "1 vCPU") or ``memory`` ("512", "1 GB") in CPU units or
    MiB, as RegisterTaskDefinition reads them; None when not given."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    factor = {"cpu": r"\s*vcpu", "memory": r"\s*gb"}[unit]
    scaled = re.fullmatch(rf"(\d+(?:\.\d+)?){factor}", text, re.IGNORECASE)
    if scaled:
        return int(float(scaled.group(1)) * 1024)
    if not text.isdigit() or int(text) <= 0:
        raise ResourceError(f"the task definition's {unit} is {value!r}; give a positive "
                            f"number ({'CPU units' if unit == 'cpu' else 'MiB'})")
    return int(text)


def check_task(task_definition: Mapping[str, Any], defs: Sequence[Mapping[str, Any]]) -> None:
    """Raise ``ResourceError`` for what RegisterTaskDefinition refuses: a container's value
    (see ``resources`` and ``host_options``), or the containers' memory or cpu adding up to
    more than the task's."""
    for definition in defs:
        resources(task_definition, definition, None)
        host_options(definition)
    for unit, key in (("memory", "memory"), ("cpu", "cpu")):
        total = task_units(task_definition.get(key), unit)
        claimed = sum(_positive(d, key) or 0 for d in defs)
        if total is not None and claimed > total:
            raise ResourceError(f"the containers' {key} add up to {claimed}, more than the "
                                f"task's {key} {total}")


def resources(task_definition: Mapping[str, Any], definition: Mapping[str, Any],
              host_cpus: int | None) -> tuple[dict[str, Any], list[str]]:
    """``create_host_config`` arguments limiting the container's cpu and memory, and notes on
    any limit lowered to what the engine has."""
    name = definition["name"]
    host: dict[str, Any] = {}
    notes: list[str] = []
    memory = _positive(definition, "memory")
    reservation = _positive(definition, "memoryReservation")
    if memory is not None and memory < MIN_CONTAINER_MEMORY:
        raise ResourceError(f"container {name}'s memory is {memory} MiB; the least is "
                            f"{MIN_CONTAINER_MEMORY} MiB")
    if memory is not None and reservation is not None and reservation > memory:
        raise ResourceError(f"container {name}'s memoryReservation ({reservation} MiB) is "
                            f"more than its memory ({memory} MiB)")
    limit = memory or task_units(task_definition.get("memory"), "memory")
    if limit is not None:
        host["mem_limit"] = host["memswap_limit"] = limit * MIB
    if reservation is not None and (limit is None or reservation <= limit):
        host["mem_reservation"] = reservation * MIB
    cpu = _positive(definition, "cpu")
    if cpu is not None:
        host["cpu_shares"] = max(cpu, MIN_CPU_SHARES)
    task_cpu = task_units(task_definition.get("cpu"), "cpu")
    if task_cpu is not None:
        vcpus = task_cpu / 1024
        if host_cpus and vcpus > host_cpus:
            notes.append(f"container {name}: the task's cpu {task_cpu} ({vcpus:g} vCPU) is "
                         f"more than the engine's {host_cpus} CPUs; limited to {host_cpus}")
            vcpus = float(host_cpus)
        host["nano_cpus"] = int(vcpus * NANO_PER_VCPU)
    return host, notes


def _positive(definition: Mapping[str, Any], key: str) -> int | None:
    value = definition.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ResourceError(f"container {definition['name']}'s {key} is {value!r}; give a "
                            "whole number, 0 or more")
    return value or None


def host_options(definition: Mapping[str, Any]) -> dict[str, Any]:
    """``create_host_config`` arguments for the definition's Linux options."""
    host: dict[str, Any] = {}
    if definition.get("readonlyRootFilesystem") is True:
        host["read_only"] = True
    if definition.get("ulimits"):
        host["ulimits"] = [_ulimit(definition["name"], u) for u in definition["ulimits"]]
    linux = definition.get("linuxParameters") or {}
    if linux.get("initProcessEnabled") is True:
        host["init"] = True
    capabilities = linux.get("capabilities") or {}
    extra = sorted(set(map(str, capabilities.get("add") or [])) - set(FARGATE_CAPABILITIES))
    if extra:
        raise ResourceError(f"container {definition['name']} adds the capabilities "
                            f"{', '.join(map(repr, extra))}; Fargate lets a container add only "
                            f"{', '.join(FARGATE_CAPABILITIES)}")
    for ecs_key, docker_key in (("add", "cap_add"), ("drop", "cap_drop")):
        if capabilities.get(ecs_key):
            host[docker_key] = [str(c) for c in capabilities[ecs_key]]
    if isinstance(linux.get("sharedMemorySize"), int) and linux["sharedMemorySize"] > 0:
        host["shm_size"] = linux["sharedMemorySize"] * MIB
    if linux.get("tmpfs"):
        host["tmpfs"] = {str(t["containerPath"]): _tmpfs_options(t) for t in linux["tmpfs"]}
    return host


def _ulimit(container: Any, limit: Any) -> dict[str, Any]:
    """One of ``ulimits`` as Docker's; ResourceError unless it has a name and two whole
    numbers, the soft one not above the hard one."""
    ok = isinstance(limit, Mapping) and isinstance(limit.get("name"), str) and all(
        isinstance(limit.get(k), int) and not isinstance(limit.get(k), bool)
        and limit[k] >= 0 for k in ("softLimit", "hardLimit"))
    if not ok or limit["softLimit"] > limit["hardLimit"]:
        raise ResourceError(f"container {container}'s ulimit {limit!r} is not a name with a "
                            "softLimit and a hardLimit (whole numbers, soft <= hard)")
    return {"name": limit["name"], "soft": limit["softLimit"], "hard": limit["hardLimit"]}


def _tmpfs_options(mount: Mapping[str, Any]) -> str:
    """Docker's options for one of ``linuxParameters.tmpfs``: its size (MiB) and
    mountOptions; ResourceError for a size that is not a positive whole number or an
    option that could smuggle in another (a comma, a control character)."""
    size, extra = mount.get("size"), [str(o) for o in mount.get("mountOptions") or []]
    path = str(mount.get("containerPath") or "")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ResourceError(f"tmpfs {path!r}: size is {size!r}; give MiB, a whole number")
    if not path.startswith("/") or any(c in o for o in [path, *extra] for c in ",\n\r\0"):
        raise ResourceError(f"tmpfs {path!r}: give an absolute containerPath and "
                            "mountOptions without commas or control characters")
    return ",".join([f"size={size}m", *extra])


def create_options(definition: Mapping[str, Any], timing: Timing) -> dict[str, Any]:
    """``create_container`` arguments: the stop timeout (SIGTERM, then SIGKILL after it),
    a terminal and stdin when asked."""
    options: dict[str, Any] = {"stop_timeout": ordering.stop_seconds(definition, timing)}
    if definition.get("pseudoTerminal") is True:
        options["tty"] = True
    if definition.get("interactive") is True:
        options["stdin_open"] = True
    return options


def docker_labels(definition: Mapping[str, Any]) -> dict[str, str]:
    """The definition's ``dockerLabels``."""
    return {str(k): str(v) for k, v in (definition.get("dockerLabels") or {}).items()}
