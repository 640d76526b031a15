"""Who the demo is about: invented facilities and patients (every name, number and code is made up), and
the clinical vocabulary their visits draw on. Plain data, apart from `backend/demo/` (which loads it
through the app): the built-in demo identity provider, which the app serves, lists the same people."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoFacility:
    code: str
    name: str
    departments: tuple[str, ...]


@dataclass(frozen=True)
class Diagnosis:
    icd10: str
    name: str


@dataclass(frozen=True)
class Drug:
    name: str
    dose: str  # QĐ 4750 style: "1 viên/lần * 2 lần/ngày * 30 ngày [2 viên/ngày]" (per 30 days)
    per_day: int
    unit: str = "viên"
    instruction: str = "Uống sau ăn"


@dataclass(frozen=True)
class Test:
    loinc: str
    name: str
    unit: str
    low: float | None
    high: float | None
    typical: float
    spread: float
    category: str = "laboratory"


@dataclass(frozen=True)
class DemoPatient:
    cccd: str
    family: str
    given: str
    gender: str
    birth: str
    phone: str
    address: str
    home: str  # the facility that follows this patient
    diagnoses: tuple[Diagnosis, ...]
    drugs: tuple[Drug, ...]
    tests: tuple[Test, ...]
    visits_per_year: int
    years: int
    allergy: str | None = None
    referral_to: str | None = None  # a facility code
    referral_reason: str = ""
    vaccines: tuple[str, ...] = field(default=())

    @property
    def full_name(self) -> str:
        return f"{self.family} {self.given}"


FACILITIES = (
    DemoFacility("01929", "Bệnh viện Đa khoa Minh An (mẫu)", ("Khám Nội tiết", "Khám Tim mạch", "Khám Nội tổng hợp")),
    DemoFacility(
        "01002", "Bệnh viện Hữu Nghị Thủ Đô (mẫu)", ("Khám Tim mạch", "Khám Thận - Tiết niệu", "Chấn thương chỉnh hình")
    ),
    DemoFacility("01013", "Trung tâm Y tế Cầu Giấy (mẫu)", ("Khám Nhi", "Khám Nội tổng hợp", "Tiêm chủng")),
)

E11 = Diagnosis("E11.9", "Đái tháo đường type 2 không có biến chứng")
I10 = Diagnosis("I10", "Tăng huyết áp vô căn (nguyên phát)")
E78 = Diagnosis("E78.5", "Tăng lipid máu, không đặc hiệu")
J45 = Diagnosis("J45.9", "Hen phế quản, không đặc hiệu")
J06 = Diagnosis("J06.9", "Nhiễm trùng đường hô hấp trên cấp, không đặc hiệu")
N18 = Diagnosis("N18.3", "Bệnh thận mạn, giai đoạn 3")
K29 = Diagnosis("K29.7", "Viêm dạ dày, không đặc hiệu")
S52 = Diagnosis("S52.5", "Gãy đầu dưới xương quay")

METFORMIN = Drug("Metformin 500mg (viên nén)", "1 viên/lần * 2 lần/ngày * 30 ngày [2 viên/ngày]", 2)
AMLODIPIN = Drug("Amlodipin 5mg (viên nén)", "1 viên/lần * 1 lần/ngày * 30 ngày [1 viên/ngày]", 1)
LOSARTAN = Drug("Losartan 50mg (viên nén bao phim)", "1 viên/lần * 1 lần/ngày * 30 ngày [1 viên/ngày]", 1)
ATORVASTATIN = Drug(
    "Atorvastatin 20mg (viên nén)", "1 viên/lần * 1 lần/ngày * 30 ngày [1 viên/ngày]", 1, instruction="Uống buổi tối"
)
SALBUTAMOL = Drug(
    "Salbutamol 100mcg/liều (bình xịt)",
    "2 nhát/lần * khi khó thở, tối đa 4 lần/ngày",
    1,
    unit="bình",
    instruction="Xịt khi lên cơn khó thở",
)
BUDESONID = Drug(
    "Budesonid + Formoterol 160/4,5mcg (bình hít)",
    "1 nhát/lần * 2 lần/ngày * 30 ngày [2 nhát/ngày]",
    1,
    unit="bình",
    instruction="Súc miệng sau khi hít",
)
PARACETAMOL = Drug(
    "Paracetamol 250mg (gói bột)",
    "1 gói/lần * 3 lần/ngày * 5 ngày [3 gói/ngày]",
    3,
    unit="gói",
    instruction="Uống khi sốt trên 38,5°C",
)
CALCI = Drug("Calci carbonat 500mg + Vitamin D3 (viên nén)", "1 viên/lần * 2 lần/ngày * 30 ngày [2 viên/ngày]", 2)
OMEPRAZOL = Drug(
    "Omeprazol 20mg (viên nang)",
    "1 viên/lần * 1 lần/ngày * 30 ngày [1 viên/ngày]",
    1,
    instruction="Uống trước ăn sáng 30 phút",
)

HBA1C = Test("4548-4", "HbA1c", "%", None, 6.5, 7.2, 0.6)
GLUCOSE = Test("15074-8", "Glucose máu lúc đói", "mmol/L", 3.9, 6.4, 7.4, 1.2)
LDL = Test("22748-8", "LDL-Cholesterol", "mmol/L", None, 3.4, 3.3, 0.5)
CREATININ = Test("14682-9", "Creatinin máu", "µmol/L", 62, 106, 148, 14)
EGFR = Test("33914-3", "Mức lọc cầu thận ước tính (eGFR)", "mL/min/1.73m2", 60, None, 44, 5)
SYSTOLIC = Test("8480-6", "Huyết áp tâm thu", "mmHg", 90, 139, 138, 10, category="vital-signs")
HEMOGLOBIN = Test("718-7", "Hemoglobin", "g/L", 120, 160, 126, 8)

PATIENTS = (
    DemoPatient(
        "001090012345",
        "Nguyễn",
        "Văn An",
        "male",
        "1990-03-15",
        "+84912345678",
        "Phường Láng, Thành phố Hà Nội",
        "01929",
        (E11, I10),
        (METFORMIN, AMLODIPIN),
        (HBA1C, GLUCOSE, SYSTOLIC),
        visits_per_year=4,
        years=3,
        allergy="Penicillin",
        referral_to="01002",
        referral_reason="Vượt quá khả năng chuyên môn của cơ sở: cần đánh giá bệnh mạch vành",
    ),
    DemoPatient(
        "001185004321",
        "Trần",
        "Thị Bích Ngọc",
        "female",
        "1985-07-21",
        "+84987654321",
        "Phường Nghĩa Đô, Thành phố Hà Nội",
        "01013",
        (J45,),
        (BUDESONID, SALBUTAMOL),
        (HEMOGLOBIN,),
        visits_per_year=2,
        years=3,
        allergy="Aspirin",
    ),
    DemoPatient(  # a child: the phone given at the clinic is his mother's
        "001216007788",
        "Lê",
        "Minh Khôi",
        "male",
        "2016-11-02",
        "+84987654321",
        "Phường Nghĩa Đô, Thành phố Hà Nội",
        "01013",
        (J06,),
        (PARACETAMOL,),
        (),
        visits_per_year=2,
        years=2,
        vaccines=("Cúm mùa (Influvac Tetra)", "Sởi - Quai bị - Rubella (MMR II)"),
    ),
    DemoPatient(
        "001152003456",
        "Phạm",
        "Thị Hoa",
        "female",
        "1952-01-30",
        "+84903111222",
        "Phường Cửa Nam, Thành phố Hà Nội",
        "01002",
        (N18, I10, E78),
        (LOSARTAN, ATORVASTATIN, CALCI),
        (CREATININ, EGFR, LDL, SYSTOLIC, HEMOGLOBIN),
        visits_per_year=4,
        years=3,
    ),
    DemoPatient(
        "001078009012",
        "Đỗ",
        "Quang Huy",
        "male",
        "1978-05-09",
        "+84934555666",
        "Phường Hoàng Mai, Thành phố Hà Nội",
        "01929",
        (K29, S52),
        (OMEPRAZOL,),
        (),
        visits_per_year=2,
        years=2,
        referral_to="01002",
        referral_reason="Theo yêu cầu của người bệnh: phẫu thuật kết hợp xương",
    ),
)
