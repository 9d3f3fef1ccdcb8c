"""WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py mks.wsgi:app``.

Workers build the app without touching the database: the start-up step (migrations, checks, demo
data) runs once in the master (gunicorn.conf.py) or as ``mks db upgrade``, so a worker that
restarts during a database outage still boots and answers 503 until the database is back.
"""

from .app import create_app

app = create_app(prepare=False)
