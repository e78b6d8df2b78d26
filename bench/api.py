"""Request parsing: the cost of validating the hot ingest body, and how fast bad bodies are refused.

A 10,000-reading ingest batch (1.2 MB of JSON) is decoded and validated into feeds' IngestBatch
model by canhbao.api, beside `json.loads` alone (what the route did before it had a model, and
the cost floor of any Python JSON path). Then the bodies that used to end in a 500 or a stall:
a million-deep array, a 10,000-digit integer, a 70,000-character string in free-form JSON;
each must be refused (ApiError) in well under a millisecond per kilobyte.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from canhbao.api import decode_json, validate_json
from canhbao.http import ApiError
from feeds.schemas import IngestBatch

ROWS = 10_000
REPEAT = 20


def _batch() -> bytes:
    readings = [
        {
            "station_id": "hue-a",
            "parameter": "water_level",
            "value": round(1.0 + i * 1e-4, 4),
            "observed_at": f"2025-11-16T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}+07:00",
        }
        for i in range(ROWS)
    ]
    return json.dumps({"readings": readings}).encode()


def _best_ms(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEAT):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _refused_ms(raw: bytes) -> float:
    def attempt() -> None:
        try:
            decode_json(raw)
        except ApiError:
            return
        raise AssertionError("a hostile body was accepted")

    return _best_ms(attempt)


def main() -> None:
    raw = _batch()
    baseline = _best_ms(lambda: json.loads(raw))
    ours = _best_ms(lambda: validate_json(IngestBatch, raw))
    print(f"ingest body, {ROWS:,} readings ({len(raw):,} bytes), best of {REPEAT}:")
    print(f"  json.loads alone (before: no model)       {baseline:7.2f} ms")
    print(f"  canhbao.api -> IngestBatch (validated)    {ours:7.2f} ms  ({ours / baseline:.2f}×)")
    print(f"  per reading                               {ours / ROWS * 1000:7.2f} µs")
    print("hostile bodies, refused with a 4xx (best of 20):")
    for name, body in (
        ("1,000,000-deep array", b"[" * 1_000_000 + b"]" * 1_000_000),
        ("10,000-digit integer", b"[" + b"9" * 10_000 + b"]"),
        ("70,000-character string", b'["' + b"x" * 70_000 + b'"]'),
    ):
        print(f"  {name:<28} {len(body):>10,} bytes  {_refused_ms(body):7.3f} ms")
