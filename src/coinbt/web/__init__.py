"""The web dashboard: one static page (HTML, CSS, vanilla JS modules) and its assets.

The page talks to the REST API under ``/api`` from the browser; nothing here computes
anything. :func:`web_routes` serves the page at ``/`` and its files under ``/static/``,
plotly.js included, taken from the installed ``plotly`` package so the page works offline.
"""

from coinbt.web.routes import STATIC_DIR, mount_web, plotly_js_path, web_routes

__all__ = ["STATIC_DIR", "mount_web", "plotly_js_path", "web_routes"]
