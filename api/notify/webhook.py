"""Signed webhook POSTs (urllib; no extra dependency). Any non-2xx answer counts as a failure to retry."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from api.notify.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


class WebhookError(Exception):
    pass


class WebhookSender:
    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s

    def send(self, *, url: str, secret: str, payload: dict[str, Any], idempotency_key: str, at: float) -> None:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
        ts = int(at)
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "quietfix-notifier/1",
            TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body),
            "Idempotency-Key": idempotency_key, "X-Quietfix-Event": str(payload.get("kind", ""))})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise WebhookError(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise WebhookError(str(getattr(exc, "reason", exc))) from None
