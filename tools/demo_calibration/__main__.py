"""``python -m demo_calibration [--out DIR] [--seed N]``: write the demo's calibrated CRFs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .generate import write_demo_forms

BUNDLED = Path(__file__).resolve().parents[2] / "src" / "xerotrial" / "data" / "demo_crf"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo_calibration", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=BUNDLED, help=f"folder for the CSV files (default: {BUNDLED})"
    )
    parser.add_argument("--seed", type=int, default=2022, help="seed of the calibration")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    paths = write_demo_forms(args.out, args.seed)
    print(f"{len(paths)} forms written to {args.out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
