"""Build ids: each build context as BuildKit would send it (its tree minus what its ignore
file drops), every other path covering what its symbolic links point to; all read through
one ``git cat-file`` process."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from release.adapters.git_links import TREE_MODE, Links, path_steps
from release.adapters.git_objects import ObjectReader, entries_of, listings
from release.errors import ReleaseError
from release.planning import dockerignore

_Entries = dict[str, tuple[bytes, str]]  # path -> (mode, object id)
_Chosen = tuple[str, str, bool]  # (context tree, ignore file blob, a Dockerfile's own file)


def _ignore_file(context: str) -> str:
    return ("" if context == "." else context + "/") + ".dockerignore"


CONTEXT_SEP = "\0"  # between a context and its Dockerfile in ``build_ids``' contexts
# The rules ``dockerignore.Matcher`` adds to a file's own (``!.dockerignore``: the Docker
# SDK always sends that file). BuildKit sends only what a Dockerfile's own file keeps.
_ALWAYS_SENT = dockerignore.Matcher([]).patterns


def _matcher(text: str, own: bool) -> dockerignore.Matcher:
    """The rules of an ignore file; of a Dockerfile's own one (``own``), without the rule
    that always sends the context's ``.dockerignore``."""
    matcher = dockerignore.Matcher(dockerignore.patterns_of(text))
    if own and _ALWAYS_SENT and matcher.patterns[-len(_ALWAYS_SENT):] == _ALWAYS_SENT:
        matcher.patterns = matcher.patterns[:-len(_ALWAYS_SENT)]
    return matcher


def _filtered(reader: ObjectReader, entries: _Entries, specs: list[tuple[str, str, str]],
              own: _Entries) -> dict[str, str]:
    """Each context's id as BuildKit would send it: its tree, minus what its ignore file drops.

    ``specs`` are (id's name, context, Dockerfile or ""); ``own`` the entry of each
    Dockerfile's own ignore file, ``<Dockerfile>.dockerignore``, that the tree has: BuildKit
    then reads it instead of the context's ``.dockerignore``. A context without an ignore
    file is just its git tree id. With one, the id is a hash of the listing that survives
    the ignore rules (the lines `git ls-tree -r` prints), so files the image never sees (a
    task definition, model files published to S3) do not change the build key.
    The context's ``.dockerignore`` is always in its own listing, so its rules are part of
    the key; a Dockerfile's own ignore file, usually outside the listing, is hashed first, by
    blob id, and then the context's ``.dockerignore`` counts only if the file keeps it.
    Every ignore file and every tree below those contexts is read through the one
    ``cat-file`` process: no git process per service, and a (tree, ignore file) pair shared
    by services is filtered once.
    """
    ids, chosen = _choose(entries, specs, own)
    if not chosen:
        return ids
    blobs = sorted({blob for _, blob, _ in chosen.values()})
    texts = dict(zip(blobs, reader.read(blobs, b"blob"), strict=True))
    listed = listings(reader, sorted({tree for tree, _, _ in chosen.values()}))
    matchers: dict[tuple[bytes, bool], dockerignore.Matcher] = {}  # one per distinct file
    done: dict[_Chosen, str] = {}
    for spec, how in chosen.items():
        if how in done:
            ids[spec] = done[how]
            continue
        tree, blob, is_own = how
        # The rules BuildKit applies when it sends the context to the build.
        matcher = matchers.get((texts[blob], is_own))
        if matcher is None:
            matcher = matchers[texts[blob], is_own] = _matcher(
                texts[blob].decode("utf-8", "replace"), is_own)
        ids[spec] = done[how] = _context_id(listed[tree], matcher, blob, is_own)
    return ids


def _choose(entries: _Entries, specs: list[tuple[str, str, str]],
            own: _Entries) -> tuple[dict[str, str], dict[str, _Chosen]]:
    """The id of each context without an ignore file (its tree's), and for the others the
    tree and the ignore file that filters it (a Dockerfile's own file first)."""
    ids: dict[str, str] = {}
    chosen: dict[str, _Chosen] = {}  # name -> (tree, ignore blob, own file)
    for spec, context, dockerfile in specs:
        mine = own.get(dockerfile) if own else None
        if mine is not None:
            chosen[spec] = (entries[context][1], mine[1], True)
        elif (plain := entries.get(_ignore_file(context))) is not None:
            chosen[spec] = (entries[context][1], plain[1], False)
        else:
            ids[spec] = entries[context][1]
    return ids, chosen


def _context_id(listing: list[tuple[str, str]], matcher: dockerignore.Matcher, blob: str,
                is_own: bool) -> str:
    """The hash of the listing lines that survive ``matcher`` (and of a Dockerfile's own
    ignore file, by blob id)."""
    digest = hashlib.sha256()
    if is_own:  # never a listing line: those start with a mode
        digest.update(f"dockerfile-ignore {blob}\n".encode())
    for meta, path in listing:
        if (path == ".dockerignore" and not is_own) or not matcher.excludes(path):
            digest.update(f"{meta}\t{path}\n".encode("utf-8", "surrogateescape"))
    return "ctx-" + digest.hexdigest()[:40]


def build_ids(root: Path, tree: str, paths: Iterable[str], contexts: Iterable[str], *,
              missing_ok: bool = False) -> dict[str, str]:
    """Object ids for build keys, from one git process: build contexts filtered by their
    ignore file, every other path covering what its symbolic links point to.

    A context is ``path``, filtered by ``path/.dockerignore``, or ``path``, ``CONTEXT_SEP``
    and a Dockerfile (``buildkey.context_of``), filtered by the ignore file BuildKit reads
    for that Dockerfile (see ``_filtered``); each gets an id under the string given. (A
    context's path among ``paths`` too, when only asked for with a Dockerfile, keeps its git
    id under its path.)
    A build context keeps its links as links: Docker sends a link in a context as the link
    itself and never follows it, so the image holds the link text, which the tree id covers.
    Any other path (a Dockerfile, a watched path, a template, an S3 source) is read through
    its links by whoever uses it, so its id must change when a link's target does (see
    ``git_links.Links``). With ``missing_ok``, a path that is missing or whose links lead
    nowhere is left out instead of refused.
    """
    wanted_paths = set(paths)
    specs = sorted(set(contexts))
    parts = {spec: spec.partition(CONTEXT_SEP) for spec in specs}
    plain = {context for context, _, _ in parts.values()}
    dockerfiles = {dockerfile for _, _, dockerfile in parts.values() if dockerfile}
    ignores = {_ignore_file(c) for c in plain}
    with ObjectReader(root, len(tree) // 2) as reader:
        # A Dockerfile's own ignore file is found in its directory, read for the Dockerfile.
        folders: dict[tuple[str, ...], _Entries] = {}
        entries = entries_of(reader, tree, sorted(wanted_paths | plain | ignores | dockerfiles),
                             folders)
        own = _own_ignores(dockerfiles, folders)
        found = {path: oid for path, (_, oid) in entries.items()}
        followed, refused = Links(reader, tree).ids(
            {p: entries.get(p) for p in sorted(wanted_paths.difference(plain))})
        if not missing_ok:
            _refuse_missing(sorted(p for p in wanted_paths | plain
                                   if p not in found and p not in followed
                                   and p not in refused), refused)
        ids = {p: found[p] for p in wanted_paths if p in found and p not in refused}
        ids.update(followed)
        ids.update(_filtered(reader, entries, [(s, c, d) for s, (c, _, d) in parts.items()
                                               if c in found], own))
    return ids


def _own_ignores(dockerfiles: set[str], folders: dict[tuple[str, ...], _Entries]) -> _Entries:
    """The entry of each Dockerfile's own ignore file, ``<Dockerfile>.dockerignore``, that
    the tree has."""
    own: _Entries = {}
    for dockerfile in dockerfiles:
        if (steps := path_steps(dockerfile)) and (entry := folders.get(steps[:-1], {}).get(
                steps[-1] + ".dockerignore")) is not None and entry[0] != TREE_MODE:
            own[dockerfile] = entry
    return own


def _refuse_missing(missing: list[str], refused: Mapping[str, ReleaseError]) -> None:
    """Refuse paths not in git, then links that lead nowhere."""
    if missing:
        raise ReleaseError(
            f"not in git: {', '.join(missing)}",
            "commit these paths or remove them from release.yaml; ignored files cannot "
            "be part of a build key",
        )
    if refused:
        raise refused[min(refused)]
