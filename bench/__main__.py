"""python -m bench [--quick] [--only X,Y] [--json] [--database-url URL]."""

from __future__ import annotations

import argparse
import json
import sys

from bench import figure_names, run_all
from bench.report import render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N, 10^4 rows only (about a minute)")
    parser.add_argument("--only", default="", help=f"comma-separated figures: {','.join(figure_names())}")
    parser.add_argument("--json", action="store_true", help="print the JSON result instead of tables")
    parser.add_argument("--output", help="also write the JSON result to this file")
    parser.add_argument("--database-url", help="a PostgreSQL server to create the throw-away bench database on")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()] or None
    result = run_all(quick=args.quick, only=only, database_url=args.database_url)
    text = json.dumps(result, indent=2, default=str)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    if args.json:
        print(text)
    else:
        render(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
