"""Request and response bodies of the API (pydantic models, also the OpenAPI schemas), one module per area.

``common`` holds the bases and field types; the others follow ``mks.routes``: auth, users, knowledge,
categories, synonyms, audit, health, errors, metrics.
"""
