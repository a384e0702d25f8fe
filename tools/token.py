"""A development token: signed with CREDO_JWT_SECRET, or with the secret `make dev` keeps in
$CREDO_DEV_DIR/secrets.json (.dev/ by default).

    python -m tools.token --role credit_analyst [--role …] [--subject li] [--hours 8]
"""

from __future__ import annotations

import argparse
import os
import sys

from libs.service.auth import mint_token
from libs.service.settings import ROLES
from tools.dev import dev_dir, load_dev_secrets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.token", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--role", action="append", required=True, choices=ROLES)
    parser.add_argument("--subject", default="developer", help="who the token speaks for")
    parser.add_argument("--hours", type=float, default=8)
    args = parser.parse_args(argv)
    secrets = load_dev_secrets()
    secret = os.environ.get("CREDO_JWT_SECRET") or (secrets or {}).get("jwt_secret")
    if not secret:
        print(
            f"no development secret in {dev_dir() / 'secrets.json'}: start `make dev` once (with the same"
            " CREDO_DEV_DIR), or set CREDO_JWT_SECRET",
            file=sys.stderr,
        )
        return 2
    print(mint_token(secret, args.subject, args.role, hours=args.hours))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
