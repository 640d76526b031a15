"""The privacy notice and patients' consent to it (Law 91/2025/QH15: health data is sensitive personal
data, processed only with an explicit, recorded consent)."""

from backend.consent.notice import NOTICE_VERSION, notice_text
from backend.consent.records import give_consent, has_consented

__all__ = ["NOTICE_VERSION", "give_consent", "has_consented", "notice_text"]
