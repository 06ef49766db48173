"""The HTTP routes, one module per noun; every one below API_PREFIX but the live feed."""

API_PREFIX = "/api/v1"
