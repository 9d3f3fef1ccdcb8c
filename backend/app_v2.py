"""Development server, as the monitoring guide starts it: `python app_v2.py` serves on :5100.

Runs the start-up step (mks.startup.prepare) first. Set MKS_HOST / MKS_PORT to change the address.
Production uses gunicorn: `mks serve`.
"""

import sys

from mks.app import create_serving_app
from mks.config import ConfigError, Settings
from mks.startup import prepare, show_progress

if __name__ == "__main__":
    show_progress()
    try:
        settings = Settings()
        prepare(settings)
    except ConfigError as exc:  # an operator's message, not a traceback
        sys.exit(f"Error: {exc}")
    create_serving_app(settings).run(host=settings.bind_host, port=settings.port)
