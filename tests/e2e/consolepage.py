"""Signing in to the console in a real browser, shared by the e2e tests (loaded by path: test
folders are not packages)."""

from __future__ import annotations

from typing import Any

WALL = {"width": 1920, "height": 1080}


def log_in(page: Any, username: str, password: str) -> None:
    """Fill the login form of a page showing it and wait until the form is gone."""
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login", state="hidden")


def open_console(browser: Any, city: Any, username: str, password: str, viewport: dict[str, int] = WALL) -> Any:
    """A new Vietnamese page (Asia/Ho_Chi_Minh) of the city's console, signed in and streaming live."""
    context = browser.new_context(viewport=viewport, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    page = context.new_page()
    page.goto(city.gateway_url + "/")
    log_in(page, username, password)
    page.wait_for_selector("#live[data-state=on]", timeout=15000)
    return page
