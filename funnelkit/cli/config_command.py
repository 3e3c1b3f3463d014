"""``funnelkit config``: start a config file, or print its JSON schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from funnelkit.cli._common import debug_option


def add_parser(commands: Any) -> argparse.ArgumentParser:
    cfg = commands.add_parser(
        "config",
        help="write a config template or print the config's JSON schema",
        description="Start a config for 'funnelkit report EVENTS --config FILE' (--template), "
        "or print the JSON schema that editors use to check one (--schema).",
    )
    what = cfg.add_mutually_exclusive_group(required=True)
    what.add_argument("--template", action="store_true", help="print or write a template")
    what.add_argument("--schema", action="store_true", help="print the JSON schema")
    cfg.add_argument(
        "--format", choices=["toml", "json"], default="toml", help="format of the template"
    )
    cfg.add_argument("--out", default=None, help="write to this file (default: stdout)")
    debug_option(cfg)
    cfg.set_defaults(run=run)
    return cfg


def run(args: argparse.Namespace) -> int:
    """Run ``funnelkit config`` with parsed options."""
    from funnelkit.config import config_schema, template

    if args.schema:
        text = json.dumps(config_schema(), indent=2) + "\n"
    else:
        fmt = args.format
        if args.out is not None and Path(args.out).suffix.lower() == ".json":
            fmt = "json"
        text = template(format=fmt)
    if args.out is None:
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")
        sys.stderr.write(f"written to {args.out}\n")
    return 0
