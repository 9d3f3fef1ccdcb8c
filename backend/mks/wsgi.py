"""WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py mks.wsgi:app``.

Importing this module touches no database (create_app never does): the start-up step (migrations,
checks, demo data, mks.startup.prepare) runs once in the master (gunicorn.conf.py) or as
``mks prepare``, so a worker that restarts during a database outage still boots and answers 503
until the database is back.
"""

from .app import create_app

app = create_app()
