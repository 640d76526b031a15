"""The access log: who read a patient's health data, when, what, why and through which channel.

Written by the record store's read path (`backend.records.reads`), in the same transaction as the read,
for every reader but the patient; if the event cannot be written, the read fails and nothing is shown.
"""

from backend.audit.events import Channel, Reader, log_access, logged_at_the_end

__all__ = ["Channel", "Reader", "log_access", "logged_at_the_end"]
