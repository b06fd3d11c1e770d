"""ReeferWatch central service (DESIGN §6).

``settings`` reads the environment, ``db`` holds the SQLAlchemy models, engine and Alembic
runner (``migrations`` is the Alembic script directory), ``blobs`` is the content-addressed
clip store, ``audit`` the hash-chained audit log, ``security`` passwords and tokens,
``users`` account management, ``ingest`` the MQTT consumer that turns edge messages into
rows and blobs, ``api`` the FastAPI application, and ``cli`` the ``reeferwatch-central``
command.
"""
