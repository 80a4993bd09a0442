"""Configuration: YAML with line numbers -> JSON Schema validation -> frozen dataclasses."""

from release.config.load import load_config
from release.config.model import Config, Environment, Service, ServiceDeployment

__all__ = ["Config", "Environment", "Service", "ServiceDeployment", "load_config"]
