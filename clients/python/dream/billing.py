"""client.billing: balance, Stripe top-ups and the transaction ledger."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, List

from ._records import Record, record
from .errors import DreamError, InputValidationError

if TYPE_CHECKING:
    from .client import Client

TOPUP_USD_MIN = 5.0
TOPUP_USD_MAX = 10_000.0
TRANSACTIONS_LIMIT_MAX = 500


class Billing:
    def __init__(self, client: "Client") -> None:
        self._client = client

    def balance(self) -> Record:
        """customer_id, balance_micros, balance_mils, balance_cents, balance_usd (+ held_micros)."""
        self._client._require_key("billing.balance")
        return record(self._client._transport.request("GET", "/v1/billing/balance").json())

    def topup(self, amount_usd: float) -> Record:
        """Start a Stripe Checkout top-up; returns session_id, url, amount_cents, amount_usd, customer_id."""
        if isinstance(amount_usd, bool) or not isinstance(amount_usd, (int, float)) or not math.isfinite(amount_usd):
            raise InputValidationError(f"amount_usd: expected a number, got {amount_usd!r}")
        if not TOPUP_USD_MIN <= amount_usd <= TOPUP_USD_MAX:
            raise InputValidationError(
                f"amount_usd: top-ups must be between ${TOPUP_USD_MIN:,.0f} and ${TOPUP_USD_MAX:,.0f}, got ${amount_usd:,.2f}"
            )
        self._client._require_key("billing.topup")
        import json

        body = json.dumps({"amount_usd": float(amount_usd)}).encode("utf-8")
        return record(self._client._transport.request("POST", "/v1/billing/topup", body=body,
                                                       content_type="application/json").json())

    def transactions(self, limit: int = 50) -> List[Record]:
        """Newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= TRANSACTIONS_LIMIT_MAX:
            raise InputValidationError(f"limit: expected an integer in 1..{TRANSACTIONS_LIMIT_MAX}, got {limit!r}")
        self._client._require_key("billing.transactions")
        data = self._client._transport.request("GET", "/v1/billing/transactions", query={"limit": limit}).json()
        txs = data.get("transactions") if isinstance(data, dict) else None
        if not isinstance(txs, list):
            raise DreamError("GET /v1/billing/transactions: response has no 'transactions' list")
        return [record(t) for t in txs]
