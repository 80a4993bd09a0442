"""The result of the verbs that act on what already runs (rollback, redeploy): what each
target ran before and runs now."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from release.engine.targets import Change
from release.errors import EXIT_FAILED, EXIT_OK
from release.output import envelope, table

__all__ = ["Change", "Result"]


@dataclass(frozen=True)
class Result:
    """Every target's change; exit code 1 when any failed."""

    command: str
    environment: str
    changes: tuple[Change, ...]

    @property
    def exit_code(self) -> int:
        """1 when any target failed."""
        return EXIT_FAILED if any(c.status == "failed" for c in self.changes) else EXIT_OK

    def to_text(self) -> str:
        """A table, then each failure's message and hint, then the URLs."""
        lines = [table(["SERVICE", "TARGET", "BEFORE", "AFTER", "STATUS"],
                       [(c.service, c.target, c.before, c.after, c.status)
                        for c in self.changes])]
        for c in self.changes:
            if c.status == "failed":
                lines.append(f"\n{c.service} {c.target}: {c.message}")
                if c.hint:
                    lines.append(f"  hint: {c.hint}")
            if c.url:
                lines.append(f"\n{c.service}: {c.url}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """Versioned JSON: one entry per target."""
        return envelope(self.command, {"environment": self.environment,
                                       "results": [asdict(c) for c in self.changes]})

    def github_outputs(self) -> dict[str, str]:
        """The results, and the URL of the service when there is one."""
        outputs = {"results": json.dumps([asdict(c) for c in self.changes])}
        urls = [c.url for c in self.changes if c.url]
        if urls:
            outputs["service-url"] = urls[0]
        return outputs
