"""WSGI entry point for gunicorn: ``gunicorn mks.wsgi:app``."""

from .app import create_app

app = create_app()
