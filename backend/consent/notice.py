"""The privacy notice, in plain language. A new version (a change of purpose, recipient or retention)
asks every patient again."""

from __future__ import annotations

NOTICE_VERSION = "2026-11-01"

_VIETNAMESE = """Sổ Sức Khỏe xử lý dữ liệu sức khỏe của bạn như thế nào

Dữ liệu nào: hồ sơ mà các bệnh viện ở Hà Nội gửi sau khi bạn khám chữa bệnh (lần khám, chẩn đoán, đơn thuốc, \
kết quả xét nghiệm, giấy chuyển tuyến, giấy hẹn khám lại), số căn cước công dân và số điện thoại của bạn. \
Đây là dữ liệu cá nhân nhạy cảm theo Luật Bảo vệ dữ liệu cá nhân (Luật số 91/2025/QH15).

Để làm gì: để bạn xem hồ sơ của mình ở một nơi, và để bạn chia sẻ với cơ sở y tế khác khi bạn muốn. \
Chúng tôi không bán dữ liệu, không dùng cho quảng cáo và không gửi cho ai khi bạn chưa chia sẻ.

Ai được xem: chỉ bạn. Người khác chỉ xem được những gì bạn chia sẻ bằng mã QR, trong thời hạn bạn chọn. \
Mỗi lần có người xem đều được ghi lại và bạn xem được nhật ký đó.

Quyền của bạn: xem, tải về toàn bộ hồ sơ, dừng chia sẻ bất cứ lúc nào, rút lại sự đồng ý. \
Muốn sửa nội dung hồ sơ, hãy liên hệ bệnh viện đã gửi hồ sơ đó.

Lưu trữ: hồ sơ được lưu an toàn, mã hóa khi truyền, trên máy chủ đặt tại Việt Nam."""

_ENGLISH = """How Sổ Sức Khỏe processes your health data

What: the records Hanoi hospitals send after your visits (visits, diagnoses, prescriptions, test results, \
referral letters, follow-up appointment letters), your national ID number and your phone number. This is \
sensitive personal data under Vietnam's Personal Data Protection Law (Law 91/2025/QH15).

Why: so that you can see your records in one place, and share them with another health facility when you \
choose to. We do not sell your data, use it for advertising, or give it to anyone you have not shared it with.

Who sees it: only you. Others see only what you share by QR code, for as long as you choose. Every time \
someone opens what you shared is recorded, and you can see that log.

Your rights: see and download all your records, stop any sharing at any time, withdraw your consent. To \
correct a record, contact the hospital that sent it.

Storage: your records are stored securely, encrypted in transit, on servers in Vietnam."""


def notice_text(locale: str) -> str:
    return _ENGLISH if locale == "en" else _VIETNAMESE
