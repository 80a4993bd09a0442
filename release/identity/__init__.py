"""Identity: IAM trust and permissions policies, and why a token is (not) admitted. Pure."""
