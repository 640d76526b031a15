"""Housekeeping (contract §1 `healthbook maintenance`): delete what has outlived its purpose.

Expired sign-in challenges once no rate limit counts them, ended sessions and their credentials, used or
expired activation codes, finished national-ID sign-ins, expired share files, refused deliveries after 90
days, and webhook secrets replaced more than 24 hours ago. `rules` says, table by table, what is kept,
what goes, after how long and why. Nothing clinical and no audit trail is ever deleted here.

Run it from cron on every node, e.g. every 15 minutes::

    */15 * * * *  cd /srv/healthbook && .venv/bin/healthbook maintenance >> var/maintenance.log 2>&1

Several nodes at once are safe. The first takes a PostgreSQL advisory lock (session-level, key
`runner.LOCK_KEY`, released at the end or when its connection drops); the others print `"skipped": true`
at once and exit 0. The deletions go in batches of at most 5,000 rows, each its own short transaction,
rows claimed `FOR UPDATE SKIP LOCKED`, so a large backlog (a first run, a node down for weeks) never holds
long locks, makes one giant transaction, or waits on a sign-in under way; what it skips, the next run
takes. Behind a transaction-pooling proxy (PgBouncer's `transaction` mode, `DATABASE_POOLER=transaction`)
a session's lock would stay on whichever server connection took it and make later runs all skip, so
there it runs without the lock: nodes running at once then share the batches, each row removed once.
Plain SQL that PostgreSQL 15 and 18 both accept; no extension. An interrupted run leaves nothing half
done: every committed batch is whole, and the next run goes on from there.
"""

from backend.maintenance.runner import BATCH_SIZE, LOCK_KEY, purge_expired, run_maintenance

__all__ = ["BATCH_SIZE", "LOCK_KEY", "purge_expired", "run_maintenance"]
