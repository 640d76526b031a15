"""Rotating `DATA_KEYS`: every stored secret still sealed under an older key, sealed again under the first.

The operator's procedure (new key first on every node, reseal, then drop the old key) is in
docs/operations.md; `healthbook keys reseal` runs `reseal_all`.
"""

from backend.key_rotation.reseal import SEALED_COLUMNS, ResealReport, reseal_all

__all__ = ["SEALED_COLUMNS", "ResealReport", "reseal_all"]
