"""Azure: Entra ID tokens from GitHub OIDC, ACR logins, container app deployments."""
