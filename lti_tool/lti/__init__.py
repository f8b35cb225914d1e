"""The LTI 1.3 protocol side: keys, OIDC login, launch validation, roles."""
