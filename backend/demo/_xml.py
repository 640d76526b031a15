"""One demo facility's latest visit sent the way most Hanoi hospitals can today: the QĐ130 XML tables
their HIS already produces for Social Insurance, in a `GIAMDINHHS` envelope."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from xml.sax.saxutils import escape

from backend.demo_people import PATIENTS

CODE = "01013"  # a district health centre whose system speaks QĐ130 XML, not FHIR
_PATIENT = next(patient for patient in PATIENTS if patient.cccd == "001152003456")  # Phạm Thị Hoa


def demo_xml_envelope(today: date) -> tuple[str, bytes]:
    """(facility code, envelope bytes) for a check-up a week ago, with a follow-up in two weeks."""
    visit = today - timedelta(days=7)
    follow_up = today + timedelta(days=14)
    ma_lk = f"{CODE}DEMO{_PATIENT.cccd[-6:]}"
    stamp = f"{visit:%Y%m%d}"
    xml1 = _table(
        "TONG_HOP",
        MA_LK=ma_lk,
        STT="1",
        MA_BN="BN520130",
        HO_TEN=_PATIENT.full_name,
        SO_CCCD=_PATIENT.cccd,
        NGAY_SINH="195201300000",
        GIOI_TINH="2",
        NHOM_MAU="A+",
        DIA_CHI=_PATIENT.address,
        DIEN_THOAI=_PATIENT.phone.replace("+84", "0"),
        MA_THE_BHYT="HT2010152003456",
        LY_DO_VV="Khám định kỳ bệnh thận",
        CHAN_DOAN_RV="Bệnh thận mạn giai đoạn 3; Tăng huyết áp",
        MA_BENH_CHINH="N18.3",
        MA_BENH_KT="I10",
        NGAY_VAO=f"{stamp}0800",
        NGAY_RA=f"{stamp}1030",
        KET_QUA_DTRI="2",
        MA_LOAI_RV="1",
        MA_LOAI_KCB="01",
        MA_KHOA="K19",
        MA_CSKCB=CODE,
        GHI_CHU="Ăn giảm đạm, hạn chế muối; uống đủ 1,5 lít nước mỗi ngày",
        NGAY_TAI_KHAM=f"{follow_up:%Y%m%d}",
    )
    xml2 = _rows(
        "CHITIEU_CHITIET_THUOC",
        "DSACH_CHI_TIET_THUOC",
        "CHI_TIET_THUOC",
        [
            dict(
                MA_LK=ma_lk,
                STT="1",
                MA_THUOC="40.555",
                TEN_THUOC="Losartan",
                HAM_LUONG="50mg",
                DON_VI_TINH="viên",
                DUONG_DUNG="1.01",
                LIEU_DUNG="1 viên/lần * 1 lần/ngày * 30 ngày [1 viên/ngày]",
                CACH_DUNG="Uống buổi sáng",
                SO_LUONG="30",
                MA_BAC_SI="004567/HNO-CCHN",
                NGAY_YL=f"{stamp}1015",
            ),
            dict(
                MA_LK=ma_lk,
                STT="2",
                MA_THUOC="40.1016",
                TEN_THUOC="Calci carbonat + Vitamin D3",
                HAM_LUONG="500mg + 200IU",
                DON_VI_TINH="viên",
                DUONG_DUNG="1.01",
                LIEU_DUNG="1 viên/lần * 2 lần/ngày * 30 ngày [2 viên/ngày]",
                CACH_DUNG="Uống sau ăn",
                SO_LUONG="60",
                MA_BAC_SI="004567/HNO-CCHN",
                NGAY_YL=f"{stamp}1015",
            ),
        ],
    )
    xml4 = _rows(
        "CHITIEU_CHITIET_DICHVUCANLAMSANG",
        "DSACH_CHI_TIET_CLS",
        "CHI_TIET_CLS",
        [
            dict(
                MA_LK=ma_lk,
                STT="1",
                MA_DICH_VU="23.0051.1494",
                MA_CHI_SO="CREATININ",
                TEN_CHI_SO="Creatinin máu",
                GIA_TRI="151",
                DON_VI_DO="µmol/L",
                KET_LUAN="Tăng",
                NGAY_KQ=f"{stamp}0930",
            ),
            dict(
                MA_LK=ma_lk,
                STT="2",
                MA_DICH_VU="23.0051.1494",
                MA_CHI_SO="EGFR",
                TEN_CHI_SO="Mức lọc cầu thận ước tính",
                GIA_TRI="42",
                DON_VI_DO="mL/min/1.73m2",
                KET_LUAN="Giảm, phù hợp bệnh thận mạn giai đoạn 3",
                NGAY_KQ=f"{stamp}0930",
            ),
        ],
    )
    xml14 = _table(
        "CHI_TIEU_GIAYHEN_KHAMLAI",
        MA_LK=ma_lk,
        SO_GIAYHEN_KL=f"{CODE}.HK.{_PATIENT.cccd[-5:]}",
        MA_CSKCB=CODE,
        HO_TEN=_PATIENT.full_name,
        NGAY_VAO=f"{stamp}0800",
        NGAY_RA=f"{stamp}1030",
        NGAY_HEN_KL=f"{follow_up:%Y%m%d}0730",
        CHAN_DOAN_RV="Bệnh thận mạn giai đoạn 3",
        MA_BENH_CHINH="N18.3",
        MA_BAC_SI="004567/HNO-CCHN",
        NGAY_CT=stamp,
    )
    files = "".join(
        f"<FILEHOSO><LOAIHOSO>{kind}</LOAIHOSO><NOIDUNGFILE>{base64.b64encode(table).decode()}</NOIDUNGFILE></FILEHOSO>"
        for kind, table in (("XML1", xml1), ("XML2", xml2), ("XML4", xml4), ("XML14", xml14))
    )
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?><GIAMDINHHS>'
        f"<THONGTINDONVI><MACSKCB>{CODE}</MACSKCB></THONGTINDONVI><THONGTINHOSO><NGAYLAP>{stamp}</NGAYLAP>"
        f"<SOLUONGHOSO>1</SOLUONGHOSO><DANHSACHHOSO><HOSO>{files}</HOSO></DANHSACHHOSO></THONGTINHOSO>"
        "<CHUKYDONVI></CHUKYDONVI></GIAMDINHHS>"
    )
    return CODE, envelope.encode()


def _fields(values: dict[str, str]) -> str:
    return "".join(f"<{name}>{escape(value)}</{name}>" for name, value in values.items())


def _table(root: str, **values: str) -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?><{root}>{_fields(values)}</{root}>'.encode()


def _rows(root: str, listing: str, row: str, rows: list[dict[str, str]]) -> bytes:
    body = "".join(f"<{row}>{_fields(values)}</{row}>" for values in rows)
    return f'<?xml version="1.0" encoding="utf-8"?><{root}><{listing}>{body}</{listing}></{root}>'.encode()
