"""The history store: the output topics copied into SQL (SQLite or PostgreSQL) by ``form4 sink``, and the paged
history queries the HTTP API answers from it.

- :mod:`.rows` / :mod:`.batch` — messages to rows, a batch reduced per key (pure);
- :mod:`.db` / :mod:`.schema` — the two backends and the tables;
- :mod:`.store` — a batch and the sink's offsets written in one transaction;
- :mod:`.consumer` — the sink loop;
- :mod:`.query` / :mod:`.history` — cursors and filters (pure), and the async queries.
"""
