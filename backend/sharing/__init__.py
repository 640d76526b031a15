"""Sharing a book by QR code: SMART Health Links (contract §4, §5), and the access log the patient reads.

`links` makes the link's secrets and its `shlink:/` text, `jwe` encrypts the files, `store` keeps the
shares, `manifest` answers a recipient's manifest request, and `api`, `protocol_api` and `access_log`
are the routes. The shared content itself (an IPS document) comes from `backend.sharing.ips`.
"""
