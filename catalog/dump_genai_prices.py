#!/usr/bin/env python3
"""Dump the price data of the installed `genai-prices` package to JSON.

    pip install --upgrade genai-prices
    python3 catalog/dump_genai_prices.py > genai_prices_data.json

Walks `genai_prices.data.providers` and writes every object as a JSON object with a `_type`
field naming its class, followed by its attributes (attributes that are None are left out);
Decimals become strings, dates/times ISO strings, lists and dicts stay lists and dicts.
This is the shape `catalog/genai_prices_to_v2.py convert` reads (the catalog builder reads the
v2 feed, not this dump; the dump was needed once, for facts newer than the published feed).
Standard library only (besides the genai-prices package itself).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import sys
from decimal import Decimal
from typing import Any


def attrs(obj: Any) -> dict[str, Any]:
    """An object's attributes in declaration order (dataclass, pydantic model or plain)."""
    if hasattr(obj, "__dict__") and vars(obj):
        return dict(vars(obj))
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    slots = getattr(type(obj), "__slots__", ())
    return {s: getattr(obj, s) for s in slots if hasattr(obj, s)}


def to_json(obj: Any) -> Any:
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, (dt.date, dt.datetime, dt.time)):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return to_json(obj.value)
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_json(v) for v in obj]
    out: dict[str, Any] = {"_type": type(obj).__name__}
    for k, v in attrs(obj).items():
        if v is not None:
            out[k] = to_json(v)
    return out


def main() -> int:
    from genai_prices import data  # type: ignore[import-not-found]

    json.dump(to_json(list(data.providers)), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
