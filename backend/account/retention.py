"""What is kept after a patient closes their account, and for how long: said here once, shown to the
patient on the closing page from these very numbers, and to be used by the purge job when it comes.

- The records hospitals sent are not the app's to delete: hospitals keep pushing them under the city's
  interconnection order, and they stay in the book store. Nobody reads them through the app until the
  person signs in again and consents anew.
- The access log (`access_event`: who read whose records, when, why) and the sign-in audit trail
  (`auth_event`) are evidence of who read what, which the data subject's rights under Law 91/2025/QH15
  rely on, and the service's security log: 5 years each.
"""

from __future__ import annotations

ACCESS_LOG_RETENTION_YEARS = 5
SIGN_IN_TRAIL_RETENTION_YEARS = 5
