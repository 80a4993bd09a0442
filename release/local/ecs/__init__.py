"""The local ECS control plane: in front of moto (which keeps clusters, task definitions,
tags and everything else), it runs what services deploy as real containers on the local
Docker engine, rolls deployments out as ECS does, and answers the ECS API for services,
tasks and deployments from what actually runs."""
