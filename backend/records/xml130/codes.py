"""The QĐ130/4750 code lists the mapping turns into words a patient reads (appendix, XML1 and XML13),
and the code systems we name them by."""

from __future__ import annotations

REFERRAL_REASON = "urn:vn:moh:ly-do-chuyen-tuyen"  # MA_LYDO_CT
DISCHARGE_KIND = "urn:vn:moh:ma-loai-rv"  # MA_LOAI_RV
TREATMENT_OUTCOME = "urn:vn:moh:ket-qua-dieu-tri"  # KET_QUA_DTRI, an extension: R4 has no outcome element

REFERRAL_REASONS = {
    "1": "Đủ điều kiện chuyển tuyến theo quy định",
    "2": "Vượt quá khả năng chuyên môn của cơ sở",
    "3": "Theo yêu cầu của người bệnh",
}
# XML1 appendix (4750): MA_LOAI_RV, and KET_QUA_DTRI with the code 8 4750 added.
DISCHARGE_KINDS = {
    "1": "Ra viện",
    "2": "Chuyển tuyến theo yêu cầu chuyên môn",
    "3": "Trốn viện",
    "4": "Xin ra viện",
    "5": "Chuyển tuyến theo yêu cầu người bệnh",
}
TREATMENT_OUTCOMES = {
    "1": "Khỏi",
    "2": "Đỡ",
    "3": "Không thay đổi",
    "4": "Nặng hơn",
    "5": "Tử vong",
    "6": "Tiên lượng nặng xin về",
    "7": "Chưa xác định",
    "8": "Tử vong ngoại viện",
}
GENDERS = {"1": "male", "2": "female"}  # 3: Chưa xác định
