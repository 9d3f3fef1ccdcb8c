"""Use cases of knowledge entries, one module per job.

- ``entries``: the typed values reads and writes answer (``EntrySummary``, ``EntryDetail``, ``SearchHit``).
- ``queries``: who may see what (``visible_statuses``, ``visible_revisions``, the ``visible`` gate every
  fetch of one entry passes), and the statements built once that the reads run.
- ``reads``: the list (filters, sort orders, cursors), one entry (``read``, and ``view`` that counts it), tags.
- ``writes``: create, update and delete, each with its revision and audit entry.
- ``revisions``: an entry's revisions as one reader may see them.
- ``searches``: full-text search, through the database's search backend.
"""
