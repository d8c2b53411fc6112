"""JSON results as read-only records: attribute access plus the plain dict underneath.

int64 fields (money in micros/mils/cents, counters) may arrive as JSON numbers or, under the proto3
JSON mapping, as strings; both become Python ints here so callers never see "1500000".
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

_INT_RE = re.compile(r"^-?\d+$")
_INT64_SUFFIXES = ("_micros", "_mils", "_cents")
_INT64_KEYS = frozenset({"micros", "requests", "errors", "uptime_s", "runner_restarts", "seed"})


def normalize(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normalize(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v, key) for v in value]
    if isinstance(value, str) and (key.endswith(_INT64_SUFFIXES) or key in _INT64_KEYS) and _INT_RE.match(value):
        return int(value)
    return value


class Record(Mapping[str, Any]):
    """A JSON object with attribute access (``balance.balance_usd``) that is also a Mapping."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", dict(data))

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._data[name]
        except KeyError:
            raise AttributeError(name) from None
        return _wrap(value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("records are read-only")

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Record({self._data!r})"


def _wrap(value: Any) -> Any:
    # Nested objects, also inside lists (status().models[0].queue_depth), get attribute access too.
    if isinstance(value, dict):
        return Record(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def record(data: Any) -> Record:
    return Record(normalize(data if isinstance(data, dict) else {}))
