"""Checks across files: the vars a template or definition uses against each environment's,
the build secrets of release.yaml against the account and region of each environment that
builds, and a task definition template's roles against the environment's account."""

from __future__ import annotations

import difflib
from typing import Any

from release.config import iam_names, template
from release.config.loader import LoaderBase
from release.config.model import AwsAccount, Service
from release.config.source import PathKey, Source, SourceError, dotted, read_source
from release.errors import Problem

_SNAKE = {"executionRoleArn": "execution_role_arn", "taskRoleArn": "task_role_arn"}


class CrossChecks(LoaderBase):
    """What one file says checked against another."""

    def _vars_defined(self, source: Source, service: Service, env_vars: dict[str, str]) -> None:
        """Each var a service's template or definition uses must be defined here (reported by
        ``report_missing_vars``, once every environment is read)."""
        files = [f for f in (service.ecs.task_definition if service.ecs else None,
                             service.step_functions.definition if service.step_functions
                             else None) if f is not None]
        for rel in files:
            for var, used_at in self.template_vars.get(rel, {}).items():
                if var in env_vars:
                    self.defined_vars.setdefault(rel, set()).add(var)
                    continue
                where: PathKey = ("vars",) if "vars" in source.data else \
                    ("services", service.name)
                known = [*template.BUILT_INS, *env_vars]
                self.missing_vars.append((rel, var, Problem(
                    source.path, source.line(where), dotted(where),
                    f"{rel} uses ${{{var}}} (at {dotted(used_at) or 'its top'}), which "
                    f"{source.data['name']} does not define",
                    f"add it to {source.path}:\nvars:\n  {var}: \"...\"\n"
                    "known placeholders here: " + ", ".join(f"${{{k}}}" for k in known))))

    def report_missing_vars(self) -> None:
        """A var some environment defines is missing from the others: located there. One no
        environment defines is most likely a typo: located in the template, once."""
        reported: set[tuple[str, str]] = set()
        for rel, var, problem in self.missing_vars:
            if var in self.defined_vars.get(rel, set()):
                self.problems.append(problem)
                continue
            if (rel, var) in reported:
                continue
            reported.add((rel, var))
            try:
                tpl = read_source(self.root, rel)
            except SourceError:  # reported when the file was checked
                continue
            used_at = template.var_uses(tpl.data).get(var, ())
            everywhere = sorted({v for names in self.defined_vars.values() for v in names})
            close = difflib.get_close_matches(var, [*template.BUILT_INS, *everywhere], n=1)
            self._at(tpl, used_at, f"unknown placeholder '${{{var}}}'",
                     (f"did you mean '${{{close[0]}}}'? " if close else "")
                     + "known placeholders: " + ", ".join(
                         f"${{{k}}}" for k in (*template.BUILT_INS, *everywhere))
                     + "\nor define it in each environment file that deploys the service:"
                     f'\nvars:\n  {var}: "..."')

    def _secrets_readable(self, source: Source, service: Service,
                          aws: AwsAccount | None) -> None:
        """A build secret read from AWS is read with this environment's credentials when it
        builds the image: it must be in the environment's own account and region."""
        release = self.release_source
        if release is None:
            return
        for secret in service.build_secrets:
            kind = "aws_secret" if secret.aws_secret else "ssm" if secret.ssm else None
            if kind is None:
                continue
            at: PathKey = ("services", service.name, "build_secrets", secret.id, kind)
            if aws is None:
                self._at(release, at, f"build secret '{secret.id}' is read from AWS, but "
                         f"{source.path} (which may build '{service.name}') has no aws block",
                         "add aws: {region, account_id, role_arn} to the environment, or "
                         "take the secret from env: or file:")
                continue
            if secret.aws_secret is None:
                continue
            parts = secret.aws_secret.split(":")
            if (parts[3], parts[4]) != (aws.region, aws.account_id):
                self._at(release, at, f"build secret '{secret.id}' is in account {parts[4]}, "
                         f"region {parts[3]}; {source.path} builds with account "
                         f"{aws.account_id}, region {aws.region}",
                         "keep build secrets in the account and region of every environment "
                         "that builds the service (or use ssm: with a parameter of the same "
                         "name in each)")

    def _ecs_roles(self, source: Source, service: Service, raw: dict[str, Any],
                   aws: AwsAccount | None) -> None:
        """Roles set here, and the template's roles this environment does not replace."""
        at: PathKey = ("services", service.name, "ecs")
        for name in ("execution_role_arn", "task_role_arn"):
            if name in raw:
                self._role(source, (*at, name), raw[name], aws)
        if aws is None or service.ecs is None:
            return
        replaced = {"executionRoleArn": "execution_role_arn" in raw,
                    "taskRoleArn": "task_role_arn" in raw}
        for path, value in self.template_roles.get(service.ecs.task_definition, []):
            if replaced.get(path[-1]) or not isinstance(value, str):
                continue
            why = iam_names.template_role_account(value, aws.account_id, aws.role_accounts)
            if why is not None:
                self._at(source, ("services", service.name),
                         f"{service.ecs.task_definition}: {path[-1]}: {why[0]}",
                         f"{why[1]}; or set ecs.{_SNAKE[path[-1]]} for this environment")
