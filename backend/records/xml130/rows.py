"""The six QĐ130 tables we map, read into typed rows (field names as in the 4750 appendix,
`../shared/reference/qd4750/x*.tsv`). Reading checks every field the mapping uses; the mapping itself
(`mapping.py`) can then trust what it gets."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from backend.errors import Issue
from backend.records.keys import FACILITY_CODE
from backend.records.xml130.envelope import Row
from backend.records.xml130.fields import Fields

CCCD = re.compile(r"^[0-9]{12}$")
STT = re.compile(r"^[0-9]{1,10}$")


@dataclass
class Xml1:  # TONG_HOP: the visit summary
    where: str
    ma_lk: str
    cccd: str
    facility: str  # MA_CSKCB
    name: str | None
    birth_date: str | None
    gender: str | None  # GIOI_TINH 1 Nam, 2 Nữ, 3 Chưa xác định
    blood_group: str | None  # NHOM_MAU
    address: str | None
    phone: str | None  # DIEN_THOAI: may be a relative's (the appendix says so)
    insurance_cards: list[str]  # MA_THE_BHYT, `;` list
    admitted: str  # NGAY_VAO
    discharged: str | None  # NGAY_RA
    reason: str | None  # LY_DO_VV
    diagnosis_text: list[str]  # CHAN_DOAN_RV, `;` list
    main_icd: str | None  # MA_BENH_CHINH
    other_icds: list[str]  # MA_BENH_KT, `;` list
    visit_kind: str | None  # MA_LOAI_KCB
    department: str | None  # MA_KHOA
    outcome: str | None  # KET_QUA_DTRI
    discharge_kind: str | None  # MA_LOAI_RV
    advice: str | None  # GHI_CHU: the doctor's advice
    follow_ups: list[str] = field(default_factory=list)  # NGAY_TAI_KHAM


@dataclass
class Xml2:  # CHI_TIET_THUOC: one drug line
    where: str
    ma_lk: str
    stt: str
    drug_code: str | None  # MA_THUOC
    drug_name: str  # TEN_THUOC
    strength: str | None  # HAM_LUONG
    unit: str | None  # DON_VI_TINH
    route: str | None  # DUONG_DUNG
    dose: str | None  # LIEU_DUNG, shown verbatim: "1 viên/lần * 2 lần/ngày * 14 ngày [2 viên/ngày]"
    how: str | None  # CACH_DUNG
    quantity: Decimal | None  # SO_LUONG
    doctor: str | None  # MA_BAC_SI (practising certificate number)
    ordered: str | None  # NGAY_YL


@dataclass
class Xml4:  # CHI_TIET_CLS: one result of a test or imaging service
    where: str
    ma_lk: str
    stt: str
    service: str | None  # MA_DICH_VU
    code: str | None  # MA_CHI_SO
    name: str | None  # TEN_CHI_SO
    value: str | None  # GIA_TRI
    unit: str | None  # DON_VI_DO
    description: str | None  # MO_TA
    conclusion: str | None  # KET_LUAN
    resulted: str | None  # NGAY_KQ
    reader: str | None  # MA_BS_DOC_KQ


@dataclass
class Xml8:  # the record summary
    where: str
    ma_lk: str
    admitted: str | None
    discharged: str | None
    diagnosis_in: str | None  # CHAN_DOAN_VAO
    diagnosis_out: str | None  # CHAN_DOAN_RV
    course: str | None  # QT_BENHLY
    results: str | None  # TOMTAT_KQ
    treatment: str | None  # PP_DIEUTRI
    outcome: str | None  # KET_QUA_DTRI
    note: str | None  # GHI_CHU
    written: str | None  # NGAY_CT


@dataclass
class Xml13:  # GIAYCHUYENTUYEN: the referral letter
    where: str
    ma_lk: str
    facility: str  # MA_CSKCB
    destination: str  # MA_NOI_DEN
    reason: str  # MA_LYDO_CT: 1 meets the referral rules, 2 beyond this facility, 3 the patient's request
    number: str | None  # GIAY_CHUYEN_TUYEN
    record_number: str | None  # SO_HOSO
    admitted: str | None
    discharged: str | None
    signs: str | None  # DAU_HIEU_LS
    diagnosis_text: list[str]  # CHAN_DOAN_RV
    main_icd: str | None
    other_icds: list[str]
    course: str | None  # QT_BENHLY
    results: str | None  # TOMTAT_KQ
    treatment: str | None  # PP_DIEUTRI, also spelled PP_DIEU_TRI
    services: str | None  # TEN_DICH_VU
    drugs: str | None  # TEN_THUOC
    next_treatment: str | None  # HUONG_DIEU_TRI
    transport: str | None  # PHUONGTIEN_VC
    doctor: str | None  # MA_BAC_SI


@dataclass
class Xml14:  # GIAYHEN_KHAMLAI: the follow-up appointment letter
    where: str
    ma_lk: str
    facility: str  # MA_CSKCB
    number: str | None  # SO_GIAYHEN_KL
    appointment: str  # NGAY_HEN_KL
    written: str | None  # NGAY_CT
    diagnosis_text: list[str]
    main_icd: str | None
    other_icds: list[str]
    doctor: str | None


TableRow = Xml1 | Xml2 | Xml4 | Xml8 | Xml13 | Xml14


def read_row(table: str, row: Row, where: str, facility_code: str, issues: list[Issue]) -> TableRow | None:
    """The typed row, or None with the problems added to `issues`."""
    f = Fields(row, where, issues)
    before = len(issues)
    for name in row.repeated:  # which one would the hospital mean?
        issues.append(Issue(f"{where}.{name} occurs more than once in one row", f"{where}.{name}"))
    ma_lk = f.text("MA_LK", required=True, max_length=100)
    typed = _READERS[table](f, ma_lk or "")
    if table in ("XML1", "XML13", "XML14"):
        _check_facility(f, facility_code)
    if isinstance(typed, Xml13) and typed.destination == facility_code:
        issues.append(Issue(f"{where}.MA_NOI_DEN is this facility: a referral goes elsewhere", f"{where}.MA_NOI_DEN"))
    return typed if len(issues) == before else None


def _xml1(f: Fields, ma_lk: str) -> Xml1:
    return Xml1(
        where=f.where,
        ma_lk=ma_lk,
        cccd=f.matching("SO_CCCD", CCCD, "a 12-digit CCCD", required=True) or "",
        facility=f.text("MA_CSKCB", required=True) or "",
        name=f.text("HO_TEN", max_length=255),
        birth_date=f.birth_date("NGAY_SINH"),
        gender=f.text("GIOI_TINH"),
        blood_group=f.text("NHOM_MAU", max_length=5),
        address=f.text("DIA_CHI", max_length=1024),
        phone=f.text("DIEN_THOAI", max_length=15),
        insurance_cards=f.items("MA_THE_BHYT"),
        admitted=f.moment("NGAY_VAO", required=True) or "",
        discharged=f.moment("NGAY_RA"),
        reason=f.text("LY_DO_VV"),
        diagnosis_text=f.items("CHAN_DOAN_RV"),
        main_icd=f.code("MA_BENH_CHINH", max_length=7),
        other_icds=f.codes("MA_BENH_KT", max_length=100),
        visit_kind=f.text("MA_LOAI_KCB", max_length=2),
        department=f.code("MA_KHOA", max_length=50),
        outcome=f.code("KET_QUA_DTRI", max_length=1),
        discharge_kind=f.code("MA_LOAI_RV", max_length=1),
        advice=f.text("GHI_CHU"),
        follow_ups=f.days("NGAY_TAI_KHAM"),
    )


def _xml2(f: Fields, ma_lk: str) -> Xml2:
    return Xml2(
        where=f.where,
        ma_lk=ma_lk,
        stt=f.matching("STT", STT, "a whole number", required=True) or "",
        drug_code=f.code("MA_THUOC", max_length=255),
        drug_name=f.text("TEN_THUOC", required=True, max_length=1024) or "",
        strength=f.text("HAM_LUONG", max_length=1024),
        unit=f.text("DON_VI_TINH", max_length=50),
        route=f.code("DUONG_DUNG", max_length=4),
        dose=f.text("LIEU_DUNG", max_length=1024),
        how=f.text("CACH_DUNG", max_length=1024),
        quantity=f.number("SO_LUONG"),
        doctor=f.text("MA_BAC_SI", max_length=255),
        ordered=f.moment("NGAY_YL"),
    )


def _xml4(f: Fields, ma_lk: str) -> Xml4:
    row = Xml4(
        where=f.where,
        ma_lk=ma_lk,
        stt=f.matching("STT", STT, "a whole number", required=True) or "",
        service=f.code("MA_DICH_VU", max_length=50),
        code=f.code("MA_CHI_SO", max_length=50),
        name=f.text("TEN_CHI_SO", max_length=255),
        value=f.text("GIA_TRI", max_length=50),
        unit=f.text("DON_VI_DO", max_length=50),
        description=f.text("MO_TA"),
        conclusion=f.text("KET_LUAN"),
        resulted=f.moment("NGAY_KQ"),
        reader=f.text("MA_BS_DOC_KQ", max_length=255),
    )
    if row.code is None and row.name is None and row.service is None:
        f.text("TEN_CHI_SO", required=True)  # something must say what was measured
    return row


def _xml8(f: Fields, ma_lk: str) -> Xml8:
    return Xml8(
        where=f.where,
        ma_lk=ma_lk,
        admitted=f.moment("NGAY_VAO"),
        discharged=f.moment("NGAY_RA"),
        diagnosis_in=f.text("CHAN_DOAN_VAO"),
        diagnosis_out=f.text("CHAN_DOAN_RV"),
        course=f.text("QT_BENHLY"),
        results=f.text("TOMTAT_KQ"),
        treatment=f.first("PP_DIEUTRI", "PP_DIEU_TRI"),
        outcome=f.code("KET_QUA_DTRI", max_length=1),
        note=f.text("GHI_CHU"),
        written=f.day("NGAY_CT"),
    )


def _xml13(f: Fields, ma_lk: str) -> Xml13:
    return Xml13(
        where=f.where,
        ma_lk=ma_lk,
        facility=f.text("MA_CSKCB", required=True) or "",
        destination=f.matching("MA_NOI_DEN", FACILITY_CODE, "a 5-character facility code", required=True) or "",
        reason=f.choice("MA_LYDO_CT", {"1", "2", "3"}, required=True) or "",
        number=f.text("GIAY_CHUYEN_TUYEN", max_length=50),
        record_number=f.text("SO_HOSO", max_length=50),
        admitted=f.moment("NGAY_VAO"),
        discharged=f.moment("NGAY_RA"),
        signs=f.text("DAU_HIEU_LS"),
        diagnosis_text=f.items("CHAN_DOAN_RV"),
        main_icd=f.code("MA_BENH_CHINH", max_length=7),
        other_icds=f.codes("MA_BENH_KT", max_length=100),
        course=f.text("QT_BENHLY"),
        results=f.text("TOMTAT_KQ"),
        treatment=f.first("PP_DIEUTRI", "PP_DIEU_TRI"),  # both spellings occur in real exports
        services=f.text("TEN_DICH_VU", max_length=1024),
        drugs=f.text("TEN_THUOC", max_length=1024),
        next_treatment=f.text("HUONG_DIEU_TRI"),
        transport=f.text("PHUONGTIEN_VC", max_length=255),
        doctor=f.text("MA_BAC_SI", max_length=255),
    )


def _xml14(f: Fields, ma_lk: str) -> Xml14:
    return Xml14(
        where=f.where,
        ma_lk=ma_lk,
        facility=f.text("MA_CSKCB", required=True) or "",
        number=f.text("SO_GIAYHEN_KL", max_length=50),
        appointment=f.moment("NGAY_HEN_KL", required=True) or "",
        written=f.day("NGAY_CT"),
        diagnosis_text=f.items("CHAN_DOAN_RV"),
        main_icd=f.code("MA_BENH_CHINH", max_length=7),
        other_icds=f.codes("MA_BENH_KT", max_length=100),
        doctor=f.text("MA_BAC_SI", max_length=255),
    )


def table_of(row: TableRow) -> str:
    return type(row).__name__.upper()


def _check_facility(f: Fields, facility_code: str) -> None:
    value = f.row.fields.get("MA_CSKCB")
    if value is not None and value != facility_code:
        f.issues.append(
            Issue(
                f"{f.where}.MA_CSKCB {value[:10]!r} is not the facility of this endpoint ({facility_code})",
                f"{f.where}.MA_CSKCB",
            )
        )


_READERS: dict[str, Callable[[Fields, str], TableRow]] = {
    "XML1": _xml1,
    "XML2": _xml2,
    "XML4": _xml4,
    "XML8": _xml8,
    "XML13": _xml13,
    "XML14": _xml14,
}
