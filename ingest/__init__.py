"""Ingest: MQTT telemetry and status into PostgreSQL, idempotently, acknowledged only after commit."""

from ingest.runner import run_ingest, start_ingest
from ingest.service import IngestStats, IngestWorker

__all__ = ["IngestStats", "IngestWorker", "run_ingest", "start_ingest"]
