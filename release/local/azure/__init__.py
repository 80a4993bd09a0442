"""Azure in the local cloud: Entra ID's token endpoint, ACR's token exchange in front of a
TLS registry, and the Container Apps management API, on 127.0.0.1 over HTTPS.

``release local up`` starts ``python -m release.local.azure`` (see ``__main__``) beside a
Debian ``docker-registry`` serving TLS with a certificate made at ``up``. A container app's
revisions run as real containers through the ECS control plane's runtime
(``release.local.ecs.runtime``), reached through its listener (``release.local.ecs.listener``).
"""
