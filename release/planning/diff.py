"""What a deploy would change, value by value: the pure part of ``release diff``. Pure.

Each function compares what runs (``current``, ``remote``) with what a deploy would put
there (``desired``, ``local``) and returns one :class:`Difference` per changed value, sorted
by path. Values are shown on one line: strings as they are, anything else as JSON; line
breaks and other control characters escaped; cut at 200 characters.

No value that looks like a credential is ever shown, in a value or inside a JSON one:

* a value that ``credentials.find_secret(name, value)`` flags, ``name`` being the last path
  component (``DB_PASSWORD`` for ``environment.DB_PASSWORD``; the ``name``/``key`` beside a
  ``value`` field in a list of ``{"name": ..., "value": ...}`` entries);
* any value under a name that ``credentials.name_reason`` says names a secret;
* any value holding one of the literal ``hidden`` strings (a path component holding one is
  shown as ``(hidden)``).

Each is shown as ``(hidden, N chars)``. A container secret's ``valueFrom`` is a reference
(an ARN), not the secret, so it is shown unless its own shape gives a credential away.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from release.config.credentials import find_secret, name_reason, value_reason
from release.names import printable

MAX_SHOWN = 200  # characters of a value (after escaping) before it is cut with "…"
BRIEF_MAX = 40  # a value longer than this is only "changed" in a brief
ROOT = "(all)"  # the path of a whole document that differs (a number for an object)
_QUOTED_KEY = re.compile(r"[.\[\]\"]")
_MASK = re.compile(r"\(hidden, \d+ chars\)")


class _Absent:
    """Not there at all (unlike a JSON null)."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()


class _Keyed(dict[str, Any]):
    """A named collection: a side that is absent is compared entry by entry."""


class _Named(_Keyed):
    """Values by name (environment variables, tags): shown as ``path.NAME``."""


class _References(_Named):
    """Values that refer to a secret (ARNs): shown, whatever their name."""


class _ByName(_Keyed):
    """Objects by their ``name`` (containers): shown as ``path[name]``."""


@dataclass(frozen=True)
class Difference:
    """One value a deploy would change: where, and what is there before and after."""

    path: str  # "memory", "containerDefinitions[web].environment.LOG_LEVEL", "files/a.csv"
    before: str | None  # the value shown (one line, masked); None: not there
    after: str | None

    def describe(self) -> str:
        """``memory: 512 -> 1024``, ``environment.X: added ("1")``, ``secrets.DB: removed``."""
        if self.before is None:
            return f"{self.path}: added ({_quoted(self.after)})"
        if self.after is None:
            return f"{self.path}: removed"
        return f"{self.path}: {_bare(self.before)} -> {_bare(self.after)}"


def _bare(shown: str | None) -> str:
    return shown if shown else '""'


def _quoted(shown: str | None) -> str:
    """A value in quotes, but a mask or a JSON object or list as it is."""
    if shown is None or _MASK.fullmatch(shown) or shown.startswith(("{", "[")):
        return str(shown)
    return f'"{shown}"'


def _line(text: str) -> str:
    """``text`` on one line and at most ``MAX_SHOWN`` characters (and "…")."""
    text = printable(text)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def _mask(text: str) -> str:
    return f"(hidden, {len(text)} chars)"


def _same(a: Any, b: Any) -> bool:
    """Leaf equality that tells true from 1 and "1" from 1 (NaN equals NaN)."""
    return type(a) is type(b) and (a == b or (a != a and b != b))  # noqa: PLR0124


def _names_of(key: Any, node: Mapping[str, Any]) -> tuple[str, ...]:
    """The name a value goes by: its key, or, for the ``value`` of a ``{"name": N,
    "value": V}`` entry (ECS, Step Functions overrides, tags), N."""
    if key in ("value", "Value"):
        label = next((node[k] for k in ("name", "Name", "key", "Key")
                      if isinstance(node.get(k), str)), None)
        if label is not None:
            return (label,)
    return (str(key),)


def _natural(path: str) -> list[Any]:
    """A sort key that puts ``[2]`` before ``[10]``."""
    return [int(p) if i % 2 else p for i, p in enumerate(re.split(r"(\d+)", path))]


class _Differ:
    """Walks two documents and collects the differences, shown and masked."""

    def __init__(self, hidden: Collection[str]) -> None:
        self.hidden = tuple(h for h in hidden if h)
        self.found: list[Difference] = []

    def result(self) -> list[Difference]:
        """The differences found, sorted by path (``[2]`` before ``[10]``)."""
        return sorted(self.found, key=lambda d: (_natural(d.path), d.path, str(d.before),
                                                 str(d.after)))

    def holds_hidden(self, text: str) -> bool:
        """Whether ``text`` holds one of the literal ``hidden`` values."""
        return any(h in text for h in self.hidden)

    def component(self, key: Any) -> str:
        """``key`` safe to show in a path: escaped, cut, never a hidden or credential text."""
        text = str(key)
        if self.holds_hidden(text) or value_reason(text) is not None:
            return "(hidden)"
        return _line(text)

    def key(self, path: str, key: Any, by_name: bool = False) -> str:
        """The path of ``key`` under ``path``: ``a.b``, ``a["b.c"]``, ``a[web]``."""
        text = self.component(key)
        if text != "(hidden)" and (not text or _QUOTED_KEY.search(str(key))
                                   or not str(key).isprintable()):
            return f'{path}[{_line(json.dumps(str(key), ensure_ascii=False))}]'
        if by_name:
            return f"{path}[{text}]"
        return f"{path}.{text}" if path else text

    def secret(self, names: tuple[str, ...], text: str, reference: bool) -> bool:
        """Whether ``text`` under any of ``names`` must not be shown."""
        if self.holds_hidden(text):
            return True
        if reference:
            return value_reason(text) is not None
        return any(name_reason(n) is not None or find_secret(n, text) is not None
                   for n in names)

    def masked(self, node: Any, names: tuple[str, ...], reference: bool) -> Any:
        """``node`` with every value that must not be shown replaced by its mask."""
        if isinstance(node, Mapping):
            refs = isinstance(node, _References)
            out: dict[str, Any] = {}
            for key, value in node.items():
                inner = _names_of(key, node)
                out["(hidden)" if self.holds_hidden(str(key)) else str(key)] = self.masked(
                    value, inner, refs or reference or key == "valueFrom")
            return out
        if isinstance(node, list):
            return [self.masked(item, names, reference) for item in node]
        text = node if isinstance(node, str) else json.dumps(node, default=str)
        return _mask(text) if self.secret(names, text, reference) else node

    def show(self, value: Any, names: tuple[str, ...], reference: bool,
             as_json: bool = False) -> str | None:
        """``value`` as one masked line; None when absent."""
        if value is _ABSENT:
            return None
        shown = self.masked(value, names, reference)
        if isinstance(shown, str) and not as_json:
            text = shown
        else:
            text = json.dumps(shown, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              default=str)
        return _line(_mask(text) if self.holds_hidden(text) else text)

    def add(self, path: str, a: Any, b: Any, names: tuple[str, ...], reference: bool) -> None:
        """Record that the value at ``path`` goes from ``a`` to ``b``."""
        before, after = self.show(a, names, reference), self.show(b, names, reference)
        if before is not None and before == after and not _MASK.fullmatch(before):
            # "1" and 1: show the JSON of both
            before = self.show(a, names, reference, as_json=True)
            after = self.show(b, names, reference, as_json=True)
        self.found.append(Difference(path or ROOT, before, after))

    def walk(self, a: Any, b: Any, path: str = "", names: tuple[str, ...] = (),
             reference: bool = False) -> None:
        """Record every difference between ``a`` and ``b`` found under ``path``."""
        if a is b:
            return
        keyed = a if isinstance(a, _Keyed) else b
        if isinstance(keyed, _Keyed) and (
                type(a) is type(b) or a is _ABSENT or b is _ABSENT):
            refs = isinstance(keyed, _References)
            by_name = isinstance(keyed, _ByName)
            left = a if a is not _ABSENT else {}
            right = b if b is not _ABSENT else {}
            for key in sorted(set(left) | set(right), key=str):
                self.walk(left.get(key, _ABSENT), right.get(key, _ABSENT),
                          self.key(path, key, by_name), (str(key),), refs)
        elif isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in sorted(set(a) | set(b), key=str):
                self.walk(a.get(key, _ABSENT), b.get(key, _ABSENT), self.key(path, key),
                          tuple(dict.fromkeys(_names_of(key, a) + _names_of(key, b))),
                          reference or key == "valueFrom")
        elif isinstance(a, list) and isinstance(b, list):
            for index in range(max(len(a), len(b))):
                self.walk(a[index] if index < len(a) else _ABSENT,
                          b[index] if index < len(b) else _ABSENT,
                          f"{path}[{index}]", names, reference)
        elif isinstance(a, Mapping | list) or isinstance(b, Mapping | list) or not _same(a, b):
            self.add(path, a, b, names, reference)


def _by(entries: Any, field: str) -> dict[str, Any] | None:
    """``entries`` (a list of objects) by their ``field``; None unless each has its own."""
    if not isinstance(entries, list):
        return None
    out: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get(field), str) or (
                entry[field] in out):
            return None
        out[entry[field]] = entry
    return out


def _keyed_container(container: Any) -> Any:
    if not isinstance(container, Mapping):
        return container
    out = dict(container)
    for key, field, kind in (("environment", "value", _Named),
                             ("secrets", "valueFrom", _References)):
        entries = _by(container.get(key), "name")
        if entries is not None:
            out[key] = kind({n: e.get(field, _ABSENT) for n, e in entries.items()})
    return out


def _keyed_task_definition(body: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(body)
    containers = _by(body.get("containerDefinitions"), "name")
    if containers is not None:
        out["containerDefinitions"] = _ByName(
            {n: _keyed_container(c) for n, c in containers.items()})
    if isinstance(body.get("tags"), Mapping):
        out["tags"] = _Named(body["tags"])
    return out


def task_definition(current: Mapping[str, Any], desired: Mapping[str, Any], *,
                    hidden: Collection[str] = ()) -> list[Difference]:
    """Differences between two ``taskdef.comparable`` task definitions.

    Containers are matched by name (``containerDefinitions[web].image``), their
    ``environment`` and ``secrets`` by entry name (``...environment.LOG_LEVEL`` the value,
    ``...secrets.DB_PASSWORD`` the ``valueFrom``), ``tags`` by key (``tags.team``), other
    lists element by element (``portMappings[0].containerPort``), objects by key."""
    differ = _Differ(hidden)
    differ.walk(_keyed_task_definition(current), _keyed_task_definition(desired))
    return differ.result()


def _keyed_lambda(config: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(config)
    if isinstance(config.get("environment"), Mapping):
        out["environment"] = _Named(config["environment"])
    return out


def lambda_configuration(current: Mapping[str, Any], desired: Mapping[str, Any], *,
                         hidden: Collection[str] = ()) -> list[Difference]:
    """Differences between two Lambda configurations (``image``, ``environment`` as a
    name -> value mapping, ...): environment variables by name (``environment.NAME``)."""
    differ = _Differ(hidden)
    differ.walk(_keyed_lambda(current), _keyed_lambda(desired))
    return differ.result()


def container_app(current: Mapping[str, Any], desired: Mapping[str, Any], *,
                  hidden: Collection[str] = ()) -> list[Difference]:
    """Differences between two container app views (``image``, ``environment`` by name,
    ``secrets``: variable -> ``secretref:<name>``, ``key_vault_secrets``: name -> vault URL):
    references are shown whatever their name, as ECS secrets' ARNs are."""
    differ = _Differ(hidden)
    differ.walk(_keyed_app(current), _keyed_app(desired))
    return differ.result()


def _keyed_app(config: Mapping[str, Any]) -> dict[str, Any]:
    out = _keyed_lambda(config)
    for key in ("secrets", "key_vault_secrets"):
        if isinstance(config.get(key), Mapping):
            out[key] = _References(config[key])
    return out


def state_machine(current: Any, desired: Any, *, hidden: Collection[str] = ()
                  ) -> list[Difference]:
    """Differences between two JSON documents (state machine definitions) by JSON path:
    ``States.Run.Parameters.FunctionName``, ``States.Run.Catch[0]``; a key holding ``.``,
    ``[``, ``]`` or ``"`` is quoted: ``States["a.b"]``. A whole document that differs in
    kind (an object for a list) has the path ``(all)``."""
    differ = _Differ(hidden)
    differ.walk(current, desired)
    return differ.result()


def files(local: Mapping[str, str], remote: Mapping[str, str | None], *,
          hidden: Collection[str] = ()) -> list[Difference]:
    """The files a publish would upload: S3 key -> sha256 (hex) here and in the bucket
    (None: not there). Shown as ``files/<key>`` with the first 12 hex characters of each
    checksum. A key only in the bucket is left alone by a publish and not listed."""
    differ = _Differ(hidden)
    for key in sorted(local):
        before, after = remote.get(key), local[key]
        if before == after:
            continue
        path = f"files/{differ.component(key)}"
        differ.found.append(Difference(
            path, None if before is None else differ.show(before[:12], ("sha256",), True),
            differ.show(after[:12], ("sha256",), True)))
    return differ.result()


def _brief_item(difference: Difference) -> str:
    before, after = difference.before, difference.after
    if before is None:
        return f"{difference.path} added"
    if after is None:
        return f"{difference.path} removed"
    if len(before) > BRIEF_MAX or len(after) > BRIEF_MAX:
        return f"{difference.path} changed"
    return f"{difference.path} {_bare(before)} -> {_bare(after)}"


def brief(differences: Sequence[Difference], limit: int = 3) -> str:
    """One line for ``release plan``: the first ``limit`` differences and how many more
    (``memory 512 -> 1024, environment.X added, image changed (+2 more)``). A value over
    40 characters (an image digest) is only "changed". ``no changes`` when there are none."""
    if not differences:
        return "no changes"
    shown = max(limit, 0)
    text = ", ".join(_brief_item(d) for d in differences[:shown])
    rest = len(differences) - len(differences[:shown])
    if rest:
        text = f"{text} (+{rest} more)" if text else f"(+{rest} more)"
    return text
