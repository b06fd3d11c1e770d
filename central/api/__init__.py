"""The FastAPI application (DESIGN §6): ``app`` builds it, ``deps`` holds the one auth
dependency every route uses, ``schemas`` the response models, ``cursor`` and
``httprange`` the parsers of untrusted query/header input, and one small router per
resource (``auth``, ``events``, ``clips``, ``health``)."""

from central.api.app import create_app

__all__ = ["create_app"]
