"""Turn synthmark's dataclasses into JSON: one function shared by the CLI and the service."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
from datetime import date, datetime
from pathlib import PurePath
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """Recursively convert dataclasses, enums, paths, bytes and numpy values to JSON types.

    Non-finite floats become ``None`` so that the output is strict JSON.
    """
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr
        }
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).hex()
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    tolist = getattr(obj, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return to_jsonable(tolist())
    return str(obj)


#: Lone surrogates: what Python makes of file name bytes that are not UTF-8 (surrogateescape).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def dumps(obj: Any) -> str:
    """One line of strict JSON that encodes to valid UTF-8.

    Lone surrogates (a file name that is not UTF-8) are written as ``\\udcff`` escapes, as
    ``ensure_ascii=True`` would; ``json.loads`` gives the same string back.
    """
    text = json.dumps(to_jsonable(obj), ensure_ascii=False, allow_nan=False)
    return _SURROGATE.sub(_escape_surrogate, text)


__all__ = ["dumps", "to_jsonable"]
