"""Settings of receivables beyond the kit's: ``CREDO_RECEIVABLES_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian: fonts-wqy-microhei


class ReceivablesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDO_RECEIVABLES_", extra="ignore", frozen=True)

    statement_font: Path = Field(default=DEFAULT_FONT, description="a TTF/TTC with CJK and Latin glyphs")
    accounts_in_memory: int = Field(
        default=5000, ge=0, description="folded accounts kept in memory; more is faster for large books, and costs RAM"
    )
