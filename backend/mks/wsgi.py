"""WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py mks.wsgi:app``.

Importing this module touches no database (create_app never does): the start-up step (migrations,
checks, demo data, mks.startup.prepare) runs once in the master (gunicorn.conf.py) or as
``mks prepare``, so a worker that restarts during a database outage still boots and answers 503
until the database is back.
"""

from .app import create_serving_app

# Imported by each worker after gunicorn forks it (the app is not preloaded): its dispatcher thread is its own.
app = create_serving_app()
