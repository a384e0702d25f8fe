"""A real SMTP server for tests and ``make dev`` (aiosmtpd) that keeps every message it receives as
an ``.eml`` file in a folder, and lists them over HTTP, so a person trying Credo sees the mails it sent.

    python -m libs.infra.mailbox --folder .dev/mail --smtp-port 8025 --http-port 8026

``GET /`` lists the messages (newest first) as JSON: file, from, to, subject, Message-ID, date;
``GET /<file>`` answers one message as it was received.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Keeper:
    """The aiosmtpd handler: each message's bytes to a file of its own."""

    folder: Path
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**9:09d}-{next(self._counter)}.eml"
        (self.folder / name).write_bytes(content)
        return "250 Message accepted for delivery"


def messages(folder: Path) -> list[dict[str, Any]]:
    """The messages kept in ``folder``, newest first, with their headers decoded."""
    found: list[dict[str, Any]] = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.eml"), reverse=True):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found.append(
            {
                "file": path.name,
                "from": str(message["From"]),
                "to": str(message["To"]),
                "subject": str(message["Subject"]),
                "message_id": str(message["Message-ID"]),
                "date": str(message["Date"]),
            }
        )
    return found


def listing(folder: Path) -> web.Application:
    async def index(_: web.Request) -> web.Response:
        return web.json_response(messages(folder), dumps=lambda v: json.dumps(v, ensure_ascii=False))

    async def one(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = folder / name
        if "/" in name or not name.endswith(".eml") or not path.is_file():
            raise web.HTTPNotFound(text=f"no message {name}")
        return web.Response(body=path.read_bytes(), content_type="message/rfc822")

    app = web.Application()
    app.add_routes([web.get("/", index), web.get("/{name}", one)])
    return app


def smtp_server(folder: Path, port: int, host: str = "127.0.0.1") -> Controller:
    """A started SMTP server keeping messages in ``folder``; ``stop()`` it when done."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # mails name customers and their debts
    controller = Controller(Keeper(folder), hostname=host, port=port)
    controller.start()
    return controller


async def serve(folder: Path, smtp_port: int, http_port: int, host: str = "127.0.0.1") -> None:
    controller = smtp_server(folder, smtp_port, host)
    runner = web.AppRunner(listing(folder), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, http_port).start()
    print(f"mailbox: SMTP on {host}:{smtp_port}, messages at http://{host}:{http_port}/ ({folder})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m libs.infra.mailbox", description=__doc__)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--http-port", type=int, default=8026)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.folder, args.smtp_port, args.http_port, args.host))


if __name__ == "__main__":
    main()
