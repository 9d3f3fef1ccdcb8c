"""Development server, as the monitoring guide starts it: `python app_v2.py` serves on :5100.

Set MKS_HOST / MKS_PORT to change the address. Production uses gunicorn: `mks serve`.
"""

from mks.app import create_app
from mks.config import Settings

if __name__ == "__main__":
    settings = Settings()
    create_app(settings).run(host=settings.bind_host, port=settings.port)
