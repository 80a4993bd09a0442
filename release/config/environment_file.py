"""Load ``environments/<name>.yaml``: its accounts, registry and vars, and each service's
deployment there (ECS, Lambda, Step Functions, S3, Azure), with plaintext credentials
refused."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from release.config import (
    app_traffic,
    destinations,
    docker_host,
    ecs_deployment,
    key_vault,
    lambda_traffic,
    plaintext,
)
from release.config.credentials import find_secret, secrets_hint
from release.config.cross_checks import CrossChecks
from release.config.loader import ENVIRONMENTS_DIR
from release.config.model import (
    AWS_KINDS,
    DEFAULT_ALIAS,
    DEFAULT_DEADLINE_SECONDS,
    AppTraffic,
    AwsAccount,
    AzureAccount,
    AzureAppDeployment,
    EcsDeployment,
    Environment,
    LambdaDeployment,
    Registry,
    S3Deployment,
    Service,
    ServiceDeployment,
    StepFunctionsDeployment,
)
from release.config.schema import ENVIRONMENT_SCHEMA
from release.config.source import PathKey, Source


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class EnvironmentLoader(CrossChecks):
    """An environment file into an Environment of the services release.yaml defines."""

    def load_environment(self, name: str, path: Path,
                         services: dict[str, Service] | None) -> Environment | None:
        """The environment in ``path``; None when it cannot be read or release.yaml could not."""
        source = self._read(path, ENVIRONMENT_SCHEMA)
        if source is None:
            return None
        data = source.data
        if data["name"] != name:
            self._at(source, ("name",), f"name '{data['name']}' does not match the file name",
                     f"rename the file to {ENVIRONMENTS_DIR}/{data['name']}.yaml "
                     f"or set name: {name}")
        aws = self._aws(source, data["aws"]) if "aws" in data else None
        azure = self._azure(source, data["azure"]) if "azure" in data else None
        registry = self._registry(source, source.data["registry"], ("registry",), aws)
        env_vars = self._vars(source, data.get("vars", {}), aws)
        if services is None:  # release.yaml is broken: its problems are already reported
            return None
        deployments = {}
        for service_name, raw in data["services"].items():
            if service_name not in services:
                close = difflib.get_close_matches(service_name, list(services), n=1)
                self._at(source, ("services", service_name),
                         f"service '{service_name}' is not in release.yaml",
                         f"did you mean '{close[0]}'?" if close else
                         f"services in release.yaml: {', '.join(services)}")
                continue
            deployments[service_name] = self._deployment(
                source, services[service_name], raw, aws, azure)
            self._vars_defined(source, services[service_name], env_vars)
        return Environment(name=name, path=source.path, registry=registry,
                           deployments=deployments, aws=aws, azure=azure, vars=env_vars)

    def _vars(self, source: Source, raw: dict[str, str], aws: AwsAccount | None) -> dict[str, str]:
        """The environment's vars; plaintext credentials among them are problems."""
        for key, value in raw.items():
            why = find_secret(key, value)
            if why:
                hint = ("vars end up in the task definition or state machine, readable by "
                        "anyone who can describe them: give the value to the container through "
                        "the service's ecs.secrets instead:\n" + secrets_hint(
                            "<service>", key, aws.region if aws else "eu-west-1",
                            aws.account_id if aws else "123456789012", source.data["name"]))
                found = plaintext.problem(source, self.root, ("vars", key), value=value,
                                          why=why, hint=hint)
                if found is not None:
                    self.problems.append(found)
        return dict(raw)

    def _aws(self, source: Source, raw: dict[str, Any]) -> AwsAccount:
        """The aws block; credentials go only to AWS or the local cloud, as the account
        named here."""
        aws = AwsAccount(**{**raw, "role_accounts": tuple(raw.get("role_accounts", ()))})
        if aws.endpoint_url is not None:
            self._refused(source, ("aws", "endpoint_url"),
                          destinations.aws_endpoint(aws.endpoint_url))
        self._role(source, ("aws", "role_arn"), aws.role_arn, aws, cross_account=False)
        return aws

    def _azure(self, source: Source, raw: dict[str, Any]) -> AzureAccount:
        azure = AzureAccount(**raw)
        at: PathKey = ("azure",)
        if "authority_url" in raw:
            self._refused(source, (*at, "authority_url"), destinations.azure_endpoint(
                azure.authority_url, destinations.AUTHORITY_HOSTS, "authority_url"))
        if "management_url" in raw:
            self._refused(source, (*at, "management_url"), destinations.azure_endpoint(
                azure.management_url, destinations.MANAGEMENT_HOSTS, "management_url"))
        if azure.acr_exchange_url is not None:
            self._refused(source, (*at, "acr_exchange_url"),
                          destinations.acr_exchange(azure.acr_exchange_url))
        return azure

    def _registry(self, source: Source, raw: dict[str, Any], at: PathKey,
                  aws: AwsAccount | None) -> Registry:
        """The top-level registry, or a service's own (``at`` says which)."""
        kind = raw["type"]
        host = raw.get("host")
        if kind == "ecr" and aws is None:
            self._at(source, (*at, "type"), "an ecr registry needs the aws block",
                     "add aws: {region, account_id, role_arn}")
        if kind == "acr" and "azure" not in source.data:
            self._at(source, (*at, "type"), "an acr registry needs the azure block",
                     "add azure: {tenant_id, client_id, subscription_id}")
        if host is None and aws is not None:
            host = f"{aws.account_id}.dkr.ecr.{aws.region}.amazonaws.com"
        elif host is not None and not (kind == "ecr" and aws is None):
            self._refused(source, (*at, "host"), destinations.registry_host(
                kind, host, account_id=aws.account_id if aws else None,
                region=aws.region if aws else None))
        return Registry(kind, host or "")

    def _deployment(self, source: Source, service: Service, raw: dict[str, Any],
                    aws: AwsAccount | None, azure: AzureAccount | None) -> ServiceDeployment:
        env = source.data["name"]
        at: PathKey = ("services", service.name)
        for kind in raw:
            if kind != "registry" and kind not in service.targets:
                self._at(source, (*at, kind),
                         f"'{service.name}' has no {kind} target in release.yaml",
                         f"its targets: {', '.join(service.targets)}; remove this block "
                         f"or add the target to release.yaml")
        needs_aws = any(k in AWS_KINDS for k in service.targets)
        if needs_aws and aws is None:
            self._at(source, at, f"'{service.name}' deploys to AWS but the environment has "
                     "no aws block", "add aws: {region, account_id, role_arn}")
        if service.azure_container_app is not None and azure is None:
            self._at(source, at, f"'{service.name}' deploys to Azure but the environment has "
                     "no azure block", "add azure: {tenant_id, client_id, subscription_id}")
        self._secrets_readable(source, service, aws)
        default_name = f"{env}-{service.name}"
        registry = (self._registry(source, raw["registry"], (*at, "registry"), aws)
                    if "registry" in raw else None)
        return ServiceDeployment(
            service=service,
            ecs=self._ecs(source, service, raw.get("ecs", {}), aws, default_name),
            lambda_=LambdaDeployment(
                function=raw.get("lambda", {}).get("function", default_name),
                alias=raw.get("lambda", {}).get("alias", DEFAULT_ALIAS),
                environment=self._plain_env(source, (*at, "lambda", "environment"),
                                            raw.get("lambda", {}).get("environment", {}),
                                            service=service.name, aws=aws, target="lambda"),
                deployment=self._traffic(source, (*at, "lambda", "deployment"),
                                         raw.get("lambda", {}).get("deployment")),
            ) if service.lambda_ is not None else None,
            step_functions=StepFunctionsDeployment(
                state_machine=raw.get("step_functions", {}).get("state_machine", default_name),
                definition=service.step_functions.definition,
            ) if service.step_functions is not None else None,
            s3=self._s3(source, service, raw.get("s3_files", {})),
            azure_container_app=self._azure_app(source, service, raw["azure_container_app"])
            if "azure_container_app" in raw else self._missing_azure(source, service),
            docker_host=docker_host.deployment(source, self.root, service,
                                               raw.get("docker_host", {}), self.problems.append),
            registry=registry,
        )

    def _azure_app(self, source: Source, service: Service,
                   raw: dict[str, Any]) -> AzureAppDeployment:
        """The app's values here: plaintext credentials in its environment, and secrets that
        are not Key Vault secret URLs (likely the secret itself), are problems."""
        at: PathKey = ("services", service.name, "azure_container_app")
        secrets = {key: _text(value) for key, value in raw.get("secrets", {}).items()}
        hint = (f"give the variable a Key Vault reference instead: secrets: {{NAME: "
                f"{key_vault.FORM}}}")
        for key, value in secrets.items():
            why = key_vault.url_problem(value)
            if why is not None:  # never quoted: it may be the secret itself
                self._at(source, (*at, "secrets", key), f"the value {why}", hint)
        for key, why in key_vault.name_problems(list(secrets)).items():
            self._at(source, (*at, "secrets", key), why,
                     "rename the variable (its secret name is the name lowercased, '_' as "
                     "'-')")
        environment = self._plain_env(source, (*at, "environment"), raw.get("environment", {}),
                                      service=service.name, aws=None, target="azure",
                                      own_hint=hint)
        for key in sorted(set(environment) & set(secrets)):
            self._at(source, (*at, "environment", key), f"{key} is in both environment and "
                     "secrets", "keep it in one of them")
        identity = raw.get("identity")
        if identity is not None and key_vault.identity_problem(identity) is not None:
            self._at(source, (*at, "identity"),
                     f"identity {key_vault.identity_problem(identity)}",
                     "copy it from `az identity show --query id -o tsv`, or leave identity out "
                     "to use the app's system-assigned identity")
        return AzureAppDeployment(
            name=raw["name"], resource_group=raw["resource_group"],
            container=(service.azure_container_app.container
                       if service.azure_container_app is not None else None),
            environment=environment, secrets=secrets, identity=identity,
            deployment=app_traffic.parse(
                raw["deployment"], (*at, "deployment"),
                lambda path, message, hint: self._at(source, path, message, hint))
            if "deployment" in raw else AppTraffic())

    def _missing_azure(self, source: Source, service: Service) -> AzureAppDeployment | None:
        """None; reports the problem when the service needs an app named here."""
        if service.azure_container_app is not None:
            self._at(source, ("services", service.name),
                     f"'{service.name}' has an azure_container_app target; this environment "
                     "must name the app", "add azure_container_app: {name, resource_group}")
        return None

    def _s3(self, source: Source, service: Service, raw: dict[str, Any]) -> S3Deployment | None:
        if not service.s3_files:
            return None
        bucket = raw.get("bucket") or source.data.get("s3", {}).get("bucket")
        if bucket is None:
            self._at(source, ("services", service.name),
                     f"no bucket for the s3_files of '{service.name}'",
                     "set s3.bucket for the environment or "
                     f"services.{service.name}.s3_files.bucket")
            return None
        return S3Deployment(bucket=bucket, files=service.s3_files)

    def _ecs(self, source: Source, service: Service, raw: dict[str, Any],
             aws: AwsAccount | None, default_name: str) -> EcsDeployment | None:
        if service.ecs is None:
            return None
        at: PathKey = ("services", service.name, "ecs")
        cluster = raw.get("cluster") or source.data.get("ecs", {}).get("cluster")
        if cluster is None:
            self._at(source, ("services", service.name),
                     f"no ECS cluster for '{service.name}'",
                     f"set ecs.cluster for the environment or services.{service.name}.ecs.cluster")
            cluster = ""
        environment = self._plain_env(source, (*at, "environment"), raw.get("environment", {}),
                                      service=service.name, aws=aws, target="ecs")
        self._ecs_roles(source, service, raw, aws)
        strategy = ecs_deployment.parse(
            raw["deployment"], (*at, "deployment"), account=aws.account_id if aws else None,
            report=lambda path, message, hint: self._at(source, path, message, hint)
        ) if "deployment" in raw else None
        return EcsDeployment(
            cluster=cluster,
            service=raw.get("service", service.name),
            family=raw.get("family", default_name),
            container=service.ecs.container,
            cpu=raw.get("cpu"),
            memory=raw.get("memory"),
            execution_role_arn=raw.get("execution_role_arn"),
            task_role_arn=raw.get("task_role_arn"),
            environment=environment,
            secrets=dict(raw.get("secrets", {})),
            log_group=raw.get("log_group"),
            desired_count=raw.get("desired_count"),
            deadline_seconds=raw.get("deadline_seconds", DEFAULT_DEADLINE_SECONDS),
            deployment=strategy,
        )

    def _traffic(self, source: Source, at: PathKey, raw: dict[str, Any] | None
                 ) -> lambda_traffic.LambdaTraffic:
        """``lambda.deployment``; a smoke payload too large or holding a credential is
        refused (it is written to logs)."""
        found = lambda_traffic.traffic(raw)
        too_large = lambda_traffic.payload_size_problem(found)
        if too_large:
            self._at(source, (*at, "smoke", "payload"), too_large,
                     "a smoke event is a small sample: keep a few fields")
        for path, value, why in lambda_traffic.secret_values(
                (raw or {}).get("smoke", {}).get("payload"), (*at, "smoke", "payload")):
            problem = plaintext.problem(source, self.root, path, value=value, why=why,
                                        hint="a smoke payload is written to logs: use a "
                                             "sample without credentials")
            if problem is not None:
                self.problems.append(problem)
        return found

    def _plain_env(self, source: Source, at: PathKey, raw: dict[str, Any], *, service: str,
                   aws: AwsAccount | None, target: str,
                   own_hint: str | None = None) -> dict[str, str]:
        values = {key: _text(value) for key, value in raw.items()}
        for key, value in values.items():
            why = find_secret(key, value)
            if why:
                region = aws.region if aws else "eu-west-1"
                account = aws.account_id if aws else "123456789012"
                hint = secrets_hint(service, key, region, account, source.data["name"])
                if own_hint is not None:
                    hint = own_hint
                elif target != "ecs":
                    hint = ("read it at run time from SSM Parameter Store or Secrets Manager "
                            "(the function's role needs ssm:GetParameter); never put it in "
                            "the function's environment")
                found = plaintext.problem(source, self.root, (*at, key), value=value,
                                          why=why, hint=hint)
                if found is not None:  # None: a reviewed allow-plaintext comment keeps it
                    self.problems.append(found)
        return values
