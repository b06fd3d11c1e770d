"""MQTT ingest: ``service`` turns one (topic, payload) into rows, blobs and acks without a
broker; ``transfers`` is the file-transfer state machine it uses; ``manifests`` checks signed
clip manifests and their chains; ``metrics`` holds the
in-memory counters; ``runner`` is the paho-mqtt client behind ``reeferwatch-central ingest``."""

from central.ingest.service import IngestService, Outgoing

__all__ = ["IngestService", "Outgoing"]
