"""The quick YAML path: the same data as PyYAML, lines found on demand, refusals careful.

``parse_source`` builds plain documents straight from libyaml's nodes and records no lines;
anything unusual takes the located path. Both must give the data ``yaml.load`` gives, and
the lines the located path records.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.config import source
from release.config.source import SourceError, parse_source

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="needs libyaml")

SAME = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False), st.text(max_size=10),
    st.sampled_from(["yes", "on", "off", "~", "0o17", "0x1F", "012", "1_000", "1e3", ".inf",
                     "2024-01-31", "2024-01-31 10:00:00", "=", "<<", "!", "'q'", "a: b", "#"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            # keys are text: a key YAML reads otherwise is refused (below)
                            st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=25,
)


def located(text: str) -> source.Source:
    """What the careful path gives for ``text``."""
    return source._located(text, "f.yaml")


@SAME
@given(doc=documents, flow=st.booleans())
def test_dumped_documents_read_back_as_pyyaml_reads_them(doc: Any, flow: bool) -> None:
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    expected = yaml.load(text, Loader=yaml.CSafeLoader)
    got = parse_source(text.encode(), "f.yaml")
    assert got.data == expected
    assert type(got.data) is type(expected)
    careful = located(text)
    assert got.key_lines == careful.key_lines
    assert got.value_lines == careful.value_lines


@pytest.mark.parametrize("text", [
    "a: 1\nb: [x, 2, 3.5, true, null, ~, 2024-01-31]\nc: {d: e}\n",
    "a: '1'\nb: \"two\"\nc: |\n  block\n  text\nd: >-\n  folded\n",
    "a: 0o17\nb: 0x1f\nc: 012\nd: 1_000\ne: .inf\nf: yes\ng: off\n",
    "- a\n- - b\n  - c\n- {x: 1}\n",
    "a:\n  b:\n    c:\n",
    "? complex\n: value\n",
    "a: !!str 12\nb: !!int '7'\nc: !!float 1\n",
    "a: 2024-01-31 10:00:00\n",
])
def test_hand_written_documents(text: str) -> None:
    got = parse_source(text.encode(), "f.yaml")
    assert got.data == yaml.load(text, Loader=yaml.CSafeLoader)
    assert got.text == text  # read quickly: its lines come later, from the text
    careful = located(text)
    assert (got.key_lines, got.value_lines) == (careful.key_lines, careful.value_lines)


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n",                 # anchors: may expand or contain themselves
    "base: {a: 1}\nx:\n  <<: {b: 2}\n",  # merge keys
    "a: 1\na: 2\n",                      # duplicate keys are reported, not dropped
    "1: a\n!!str 1: b\n",                # the same key as written, though built apart
    "1: a\n0x1: b\n",                    # written apart, the same once built
    "s: !!set {a, b}\n",                 # tags other than the plain ones
    "o: !!omap [a: 1]\n",
    "? [a, b]\n: c\n",                   # a list as a key
    "a: 2024-13-45\n",                   # a value YAML resolves but cannot build
    "[" * 150 + "]" * 150,               # deeper than any config
    "",
    "~\n",
])
def test_unusual_documents_take_the_careful_path(text: str) -> None:
    assert source._quick(text, "f.yaml") is None
    outcomes = []
    for parse in (lambda: located(text), lambda: parse_source(text.encode(), "f.yaml")):
        try:
            got = parse()
            outcomes.append((got.data, got.key_lines, got.value_lines))
        except SourceError as exc:
            outcomes.append(exc.problem)
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize(("text", "line", "words"), [
    ("1: one\n", 1, "a number"),
    ("a:\n  b: 1\n  2.5: two\n", 3, "a number"),
    ("false: three\n", 1, "true or false"),
    ("x:\n  null: four\n", 2, "nothing (null)"),
    ("on: push\n", 1, "true or false"),
    ("2024-01-31: d\n", 1, "a date"),
])
def test_a_key_that_is_not_text_is_a_located_problem(text: str, line: int, words: str) -> None:
    with pytest.raises(SourceError) as caught:
        parse_source(text.encode(), "f.yaml")
    problem = caught.value.problem
    assert problem.line == line
    assert f"is read by YAML as {words}, not as a name" in problem.message
    assert problem.hint is not None
    assert "quote it" in problem.hint


def test_too_many_values_take_the_careful_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_NODES", 10)
    small = "".join(f"k{i}: v\n" for i in range(9))
    large = "".join(f"k{i}: v\n" for i in range(10))
    assert source._quick(small, "f.yaml") is not None
    assert source._quick(large, "f.yaml") is None
    with pytest.raises(SourceError, match="more than 10 values"):
        parse_source(large.encode(), "f.yaml")


def test_lines_are_found_once_and_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "services:\n  web:\n    context: .\n"
    got = parse_source(text.encode(), "f.yaml")
    calls: list[str] = []
    real = source._located

    def counting(text: str, display: str) -> source.Source:
        calls.append(display)
        return real(text, display)

    monkeypatch.setattr(source, "_located", counting)
    assert got.line(("services", "web", "context")) == 3
    assert got.line(("services", "web", "nope")) == 2
    assert calls == ["f.yaml"]


def test_an_unbuildable_value_is_a_located_problem() -> None:
    with pytest.raises(SourceError) as caught:
        parse_source(b"name: dev\ncreated: 2024-13-45\n", "environments/dev.yaml")
    problem = caught.value.problem
    assert (problem.file, problem.line) == ("environments/dev.yaml", 2)
    assert "2024-13-45" in problem.message
    assert problem.hint
