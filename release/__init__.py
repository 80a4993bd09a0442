"""release: build container services once, push them, and deploy them to ECS, Lambda and Azure."""

__version__ = "0.2.0"
