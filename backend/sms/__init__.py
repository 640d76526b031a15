"""Text messages (one-time codes) through `SMS_BACKEND` (contract §2): `console` (stderr), `file:PATH`
(one JSON object per line), `http` (a gateway), or none. Sending never raises: a lost SMS must not turn
into an error page, and the failure is logged (without the text, which holds a code)."""

from backend.sms.senders import SmsSender, make_sender

__all__ = ["SmsSender", "make_sender"]
