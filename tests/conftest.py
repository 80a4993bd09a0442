"""Shared test setup (kept small: fixtures live beside the tests that use them)."""

from __future__ import annotations

import contextlib
import warnings

# When a property fails, hypothesis writes a patch with libcst, whose import warns
# (DeprecationWarning from mypy_extensions). With warnings as errors that warning would
# hide the failing example behind an INTERNALERROR; import it once, quietly, up front.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    from hypothesis.extra import _patching  # noqa: F401
