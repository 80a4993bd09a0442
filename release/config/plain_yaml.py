"""Plain YAML documents read straight from libyaml's events: the fast path of config loading.

PyYAML composes a node per value (calling Python for each) and then constructs the data
from the nodes through a generic, generator-based constructor: ~55 ms for a 1,000-service
release.yaml. Building the data directly from libyaml's events takes ~35 ms. Only what
has one obvious meaning is read here: maps, lists and scalars with their usual tags. For
anything else (anchors, merge keys, duplicate keys, other tags, errors, huge or deeply
nested documents) the answer is None, and the caller takes the careful path, which also
records lines and words every problem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import yaml
from yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

_MAP, _SEQ, _STR = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq",
                    "tag:yaml.org,2002:str")
_LIBYAML: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


class _NotPlainError(Exception):
    """The document needs the careful path."""


def plain_data(text: str, *, max_values: int, max_depth: int) -> Any:
    """The data ``yaml.safe_load(text)`` gives, or None when the careful path must decide.

    ``max_values`` counts the document, each mapping value and each list item.
    """
    if _LIBYAML is None or "&" in text or "<<" in text:
        return None  # anchors can expand or contain themselves; merge keys reshape maps
    loader = _LIBYAML(text)
    try:
        return _Reader(loader, max_values, max_depth).document()
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, _NotPlainError):
        return None
    finally:
        loader.dispose()


class _Reader:
    """One document, event by event, resolved and built as PyYAML's safe loader would."""

    def __init__(self, loader: yaml.SafeLoader, max_values: int, max_depth: int) -> None:
        self.loader = loader
        # PyYAML's stubs leave these untyped.
        self.next: Callable[[], Any] = loader.get_event
        self.resolve = cast("Callable[[type[yaml.Node], str, tuple[bool, bool]], str]",
                            loader.resolve)
        self.left = max_values
        self.max_depth = max_depth
        # A plain scalar whose first character starts no implicit type is a string: the
        # resolver would say so after a dict lookup and a function call per value.
        self.typed_starts = loader.yaml_implicit_resolvers
        self.any_start = None in self.typed_starts

    def document(self) -> Any:
        self.next()  # stream start
        if type(self.next()) is StreamEndEvent:
            return None  # empty: the careful path says so
        data = self.value(self.next(), 0)
        self.next()  # document end
        if type(self.next()) is not StreamEndEvent:
            raise _NotPlainError  # a second document: the careful path refuses it
        return data

    def value(self, event: Any, depth: int) -> Any:
        self.left -= 1
        if self.left < 0 or depth > self.max_depth:
            raise _NotPlainError
        kind = type(event)
        if kind is ScalarEvent:
            return self.scalar(event)
        if kind is MappingStartEvent and event.tag in (None, "!", _MAP):
            out = {}
            written: set[str] = set()
            while type(key := self.next()) is not MappingEndEvent:
                # A duplicate key (as written, as the careful path compares them) would be
                # silently dropped by YAML: the careful path names it.
                if type(key) is not ScalarEvent or key.value in written:
                    raise _NotPlainError  # a map or list as a key, or a duplicate
                written.add(key.value)
                name = self.scalar(key)
                if type(name) is not str:
                    raise _NotPlainError  # `123:` or `true:`: the careful path names it
                out[name] = self.value(self.next(), depth + 1)
            if len(out) != len(written):
                raise _NotPlainError  # keys written differently, equal once built
            return out
        if kind is SequenceStartEvent and event.tag in (None, "!", _SEQ):
            items = []
            while type(item := self.next()) is not SequenceEndEvent:
                items.append(self.value(item, depth + 1))
            return items
        raise _NotPlainError  # an alias, or a collection with another tag

    def scalar(self, event: ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            text = event.value
            if not event.implicit[0] or not (self.any_start or text[:1] in self.typed_starts):
                return text
            tag = self.resolve(yaml.ScalarNode, text, event.implicit)
        if tag == _STR:
            return event.value
        return self.loader.construct_object(yaml.ScalarNode(tag, event.value))
