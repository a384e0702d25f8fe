"""``python -m services.console``: the console on its configured host and port."""

from __future__ import annotations

import uvicorn

from libs.service.logging import configure_logging
from services.console.app import create_app
from services.console.settings import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings()  # from the environment
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
