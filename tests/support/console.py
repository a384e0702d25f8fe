"""The console under test: the five services, the development OpenID provider and the console on
real ports, and Debian's chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from libs.infra.embedded import free_port
from services.console.app import create_app
from services.console.settings import ConsoleSettings
from tests.support.serving import SECRET, serve_asgi
from tests.support.stack import Service
from tools.dev_identity import identity_provider

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# As root on a closed network: no sandbox, no GPU, and none of the browser's own calls home.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
SCREENSHOTS = Path(os.environ.get("CREDO_SCREENSHOTS", REPO / "screenshots"))
AXE = REPO / "services" / "console" / "node_modules" / "axe-core" / "axe.min.js"
CLIENT_ID, CLIENT_SECRET = "credo-console", "console-test-secret"


@dataclass
class Console:
    url: str
    browser: Browser

    async def signed_in(self, subject: str, locale: str | None = None) -> tuple[BrowserContext, Page]:
        """A fresh browser context in which ``subject`` signed in through the provider's page."""
        context = await self.browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        if locale is not None:
            await context.add_cookies([{"name": "credo_locale", "value": locale, "url": self.url}])
        page = await context.new_page()
        await page.goto(f"{self.url}/")
        await page.locator(f"button[name=user][value={subject}]").click()
        await page.wait_for_url(f"{self.url}/")
        return context, page


@contextlib.asynccontextmanager
async def console_served(service_urls: dict[str, str]) -> AsyncIterator[tuple[str, str, FastAPI]]:
    """The console over services at these URLs (by name), and the development provider it signs in
    with: the console's URL, the provider's and the console's app."""
    console_port, provider_port = free_port(), free_port()
    console_url, issuer = f"http://127.0.0.1:{console_port}", f"http://127.0.0.1:{provider_port}"
    provider = identity_provider(issuer, SECRET, {CLIENT_ID: (CLIENT_SECRET, [f"{console_url}/signin/callback"])})
    settings = ConsoleSettings.model_validate(
        {
            "port": console_port,
            "public_url": console_url,
            "oidc_issuer": issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            **{f"{name}_url": url for name, url in service_urls.items()},
        }
    )
    app = create_app(settings)
    async with serve_asgi(provider, provider_port), serve_asgi(app, console_port):
        yield console_url, issuer, app


@contextlib.asynccontextmanager
async def console_over(services: dict[str, Service]) -> AsyncIterator[Console]:
    """The console over the stack's services, and Debian's chromium to use it with."""
    urls = {name: str(service.http.base_url) for name, service in services.items()}
    async with console_served(urls) as (url, _, _), async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield Console(url, browser)
        finally:
            await browser.close()


async def screenshot(page: Page, name: str) -> Path:
    await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it stands (WCAG 2 A and AA)."""
    await page.evaluate(await asyncio.to_thread(AXE.read_text))
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]});
            return result.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
        }"""
    )
    return found
