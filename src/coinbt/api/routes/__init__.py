"""The API's routers, one module per area; :data:`ROUTERS` in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from coinbt.api.routes import admin, backtests, collect, market, system

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    collect.router,
    market.router,
    backtests.router,
    admin.router,
)

__all__ = ["ROUTERS"]
