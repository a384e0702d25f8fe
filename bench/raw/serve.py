"""A bare ASGI application on the server Credo's services use, with one asyncpg pool."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[asyncpg.Pool, str, str, bytes], Awaitable[tuple[int, bytes]]]  # pool, method, path, body


def app_of(dsn: str, handle: Handler, prepare: Callable[[asyncpg.Pool], Awaitable[None]] | None = None) -> Any:
    pool: asyncpg.Pool | None = None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal pool
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    pool = await asyncpg.create_pool(
                        dsn, min_size=4, max_size=20, server_settings={"search_path": "read_model,public"}
                    )
                    if prepare is not None:
                        await prepare(pool)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if pool is not None:
                        await pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        assert pool is not None
        status, answer = await handle(pool, scope["method"], scope["path"], body)
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": answer})

    return app


def serve(app: Any, port: int) -> None:
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False, log_level="warning"
    )


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()
