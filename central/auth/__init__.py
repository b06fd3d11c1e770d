"""Signing in: ``throttle`` (per-address rate limit, per-user-name lockout), ``terminals``
(registered monitoring terminals and user bindings), ``sessions`` (revocable sessions with
rotating refresh tokens) and ``login`` (the sign-in procedure that ties them together)."""
