"""Bulk import and export of knowledge entries: files in the upstream template's columns (CSV) or JSON Lines."""
