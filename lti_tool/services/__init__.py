"""LTI Advantage services: access tokens, grades (AGS), rosters (NRPS), the outbox.

Small clients on the tool's PlatformSession (timeouts and a User-Agent on every
call) rather than pylti1p3's ServiceConnector, whose token cache ignores the
client_id and whose paging misses unquoted `rel=next`.
"""
