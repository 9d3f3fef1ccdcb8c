"""Mirai Knowledge System: construction know-how behind a monitored Flask API."""

__version__ = "0.1.0"
