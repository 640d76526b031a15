"""`healthbook backup` / `restore` (contract §1): a consistent logical copy of the whole database, and
its return into an empty one, with the PostgreSQL client tools that fit the server."""

from backend.backup.dump import BackupReport, back_up
from backend.backup.restore import RestoreRefused, RestoreReport, restore
from backend.backup.tools import BackupError, ToolsMissing

__all__ = ["BackupError", "BackupReport", "RestoreRefused", "RestoreReport", "ToolsMissing", "back_up", "restore"]
