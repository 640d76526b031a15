"""The overview (`/book`) from stored records, without a database: its groups as `overview()` builds them,
and the page as the app's Jinja environment renders them, in Vietnamese and in English. Undated visits,
provenance on every item, whole-day appointments, odd and hostile text."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

from jinja2 import Template

from backend.healthbook.overview import shown_group, visit_timeline
from backend.healthbook.sections import SECTIONS
from backend.healthbook.sections.base import Seeing
from backend.paths import PWA_DIR
from backend.records.reads import Group, StoredRecordView
from backend.settings import load_settings
from backend.web.assets import Assets
from backend.web.csrf import Csrf
from backend.web.templating import create_template_engine
from tests.unit.test_section_referrals import letter
from tests.unit.test_section_visits import view

NOW = datetime(2025, 10, 13, 2, 0, tzinfo=UTC)  # 09:00 in Hanoi
SEEING = Seeing({"01929": "Bệnh viện Đa khoa Minh An"}, NOW)
GROUPS = ("appointments", "referrals", "prescriptions", "allergies", "visits")
HOSTILE = '<script>alert("x")</script>'
# A follow-up day from QĐ130's NGAY_TAI_KHAM, stored as the whole day in Hanoi.
WHOLE_DAY = {"start": "2025-11-03T00:00:00+07:00", "end": "2025-11-03T23:59:00+07:00"}


@cache
def _template(name: str) -> Template:
    """A template from the app's own Jinja environment (autoescaping, gettext, filters), with settings
    that write nothing to disk."""
    settings = load_settings(
        {"APP_ENV": "dev", "SECRET_KEY": "s" * 48, "DATA_KEYS": f"t1:{base64.b64encode(bytes(32)).decode()}"}
    )
    engine = create_template_engine(Assets(PWA_DIR), Csrf(settings), app_name="Sổ Sức Khỏe", is_prod=False)
    return engine.get_template(name)


def render_page(name: str, lang: str = "vi", **context: Any) -> str:
    """A book page as the reader of `lang` gets it (a stand-in request carries the language cookie)."""
    request = SimpleNamespace(
        cookies={"lang": lang}, scope={"type": "http", "headers": [], "state": {}}, url=SimpleNamespace(path="/book")
    )
    defaults = {"sections": SECTIONS, "read_only": False, "book_session": "test"}
    return _template(name).render(request=request, **{**defaults, **context})


def main_of(html: str) -> str:
    """The page's own part: the shell around it (footer, language switch) says nothing about records."""
    return html.split('<main id="main" class="page">', 1)[1].split("</main>", 1)[0]


def dated(record: StoredRecordView, start: str, end: str | None = None) -> StoredRecordView:
    """The record's stored dates, as the intake keeps them beside its content."""
    return record._replace(date=datetime.fromisoformat(start), date_end=datetime.fromisoformat(end) if end else None)


def encounter(served_id: str, start: str | None, *, facility: str = "01929", **content: Any) -> StoredRecordView:
    period = {"period": {"start": start}} if start else {}
    shown = view("Encounter", served_id, {**period, **content}, status="finished", facility=facility)
    return dated(shown, start) if start else shown


def appointment_view(served_id: str = "01929-hk-1", **content: Any) -> StoredRecordView:
    shown = view("Appointment", served_id, {"status": "booked", **content}, status="booked")
    return dated(shown, content["start"], content.get("end")) if "start" in content else shown


def overview_page(lang: str = "vi", /, **views: list[StoredRecordView]) -> str:
    groups = {name: shown_group(name, Group(views.get(name, []), len(views.get(name, []))), SEEING) for name in GROUPS}
    patient = {"id": "p", "name": "Nguyễn Văn An", "masked_cccd": "001******345", "blood_group": None}
    return main_of(render_page("book/overview.html", lang, patient=patient, groups=groups))


def test_visits_come_by_day_newest_first_each_day_by_facility_and_undated_ones_last() -> None:
    visits: list[dict[str, Any]] = [
        {"id": "a", "day": "2025-10-01", "source": {"name": "BV A"}},
        {"id": "b", "day": None, "source": {"name": "BV A"}},
        {"id": "c", "day": "2025-10-10", "source": {"name": "BV B"}},
        {"id": "d", "day": "2025-10-01", "source": {"name": "BV B"}},
        {"id": "e", "day": "2025-10-01", "source": {"name": "BV A"}},
    ]
    timeline = visit_timeline(visits)
    assert [day["day"] for day in timeline] == ["2025-10-10", "2025-10-01", None]
    assert [(place["name"], [item["id"] for item in place["items"]]) for place in timeline[1]["places"]] == [
        ("BV A", ["a", "e"]),
        ("BV B", ["d"]),
    ]
    assert visit_timeline([]) == []


def test_an_undated_visit_does_not_break_the_page_and_comes_last_under_its_own_heading() -> None:
    visits = [
        encounter("01929-kb-none", None, type=[{"text": "Khám không ghi ngày"}]),
        encounter("01929-kb-1", "2025-10-01T08:00:00+07:00", type=[{"text": "Khám nội"}]),
    ]
    page = overview_page(visits=visits)
    assert page.index("01/10/2025") < page.index("Không rõ ngày") < page.index("Khám không ghi ngày")
    assert "Date unknown" in overview_page("en", visits=visits)


def test_every_overview_item_says_where_it_came_from_when_and_warns_of_a_broken_signature() -> None:
    views = {
        "appointments": [appointment_view(**WHOLE_DAY)],
        "referrals": [view("ServiceRequest", "01929-ct-1", {"code": {"text": "Chuyển tuyến tim mạch"}})],
        "prescriptions": [view("MedicationRequest", "01929-dt-1", {}, signature="invalid")],
        "allergies": [view("AllergyIntolerance", "01929-du-1", {}, signature="verified")],
        "visits": [encounter("01929-kb-1", "2025-10-01T08:00:00+07:00")],
    }
    page = overview_page(**views)
    items = re.findall(r'<li class="item">(.*?)</li>', page, flags=re.S)
    assert len(items) == 5
    for item in items:
        assert 'class="provenance"' in item and "Từ Bệnh viện 01929" in item and "13/10/2025 09:00" in item
    assert page.count("badge-danger") == 1 and "không xác thực được chữ ký số" in page.lower()
    assert page.count("badge-ok") == 1


def test_an_overview_appointment_shows_its_day_facility_department_and_what_to_bring() -> None:
    whole_day = appointment_view(
        **WHOLE_DAY,
        specialty=[{"text": "Khoa Nội tổng hợp"}],
        description="Mang theo sổ khám bệnh và thẻ BHYT",
        participant=[{"actor": {"reference": "Organization/01929"}}],
    )
    timed = appointment_view(
        "01929-hk-2",
        start="2025-11-10T08:30:00+07:00",
        end="2025-11-10T09:00:00+07:00",
        serviceType=[{"text": "Tái khám mắt"}],
    )
    page = overview_page(appointments=[whole_day, timed])
    assert "03/11/2025" in page and "03/11/2025 00:00" not in page  # the day alone
    assert "10/11/2025 08:30" in page and "Tái khám mắt" in page
    assert "Bệnh viện Đa khoa Minh An · Khoa Nội tổng hợp" in page
    assert "Cần mang theo và lưu ý" in page and "Mang theo sổ khám bệnh và thẻ BHYT" in page
    assert "Hẹn khám lại" in page  # the untitled one is called what it is


def test_an_english_overview_has_no_vietnamese_words_of_ours() -> None:
    views = {
        "appointments": [appointment_view(**WHOLE_DAY)],
        "referrals": [view("ServiceRequest", "01929-ct-1", {})],
        "prescriptions": [view("MedicationRequest", "01929-dt-1", {})],
        "allergies": [view("AllergyIntolerance", "01929-du-1", {})],
        "visits": [encounter("01929-kb-1", None)],
    }
    page = overview_page("en", **views)
    for word in ("Follow-up appointment", "Referral letter", "Medicine", "Allergy", "Visit", "Date unknown"):
        assert word in page, word
    vietnamese_of_ours = ("Lịch hẹn", "Hẹn khám lại", "Giấy chuyển tuyến", "Thuốc", "Dị ứng", "Lần khám", "Không rõ")
    assert not [word for word in vietnamese_of_ours if word in page]


def test_html_in_any_text_field_is_escaped_and_long_text_stays_short_on_the_overview() -> None:
    long_text = "Nhịn ăn sáng trước khi lấy máu xét nghiệm. " * 40
    views = {
        "appointments": [
            appointment_view(
                **WHOLE_DAY,
                serviceType=[{"text": HOSTILE}],
                specialty=[{"text": HOSTILE}],
                description=long_text,
                comment=HOSTILE,
            )
        ],
        "referrals": [
            view("ServiceRequest", "01929-ct-1", {"code": {"text": HOSTILE}, "performer": [{"display": HOSTILE}]})
        ],
        "prescriptions": [
            view(
                "MedicationRequest",
                "01929-dt-1",
                {"medicationCodeableConcept": {"text": HOSTILE}, "dosageInstruction": [{"text": HOSTILE}]},
            )
        ],
        "allergies": [view("AllergyIntolerance", "01929-du-1", {"reaction": [{"manifestation": [{"text": HOSTILE}]}]})],
        "visits": [encounter("01929-kb-1", "2025-10-01T08:00:00+07:00", facility="<b>x</b>", type=[{"text": HOSTILE}])],
    }
    page = overview_page(**views)
    assert "<script>" not in page and "<b>" not in page
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 6
    assert long_text.strip() not in page and "…" in page  # the section has all of it


def test_odd_records_do_not_break_the_overview() -> None:
    odd = {
        "start": 20251103,
        "participant": "everyone",
        "specialty": [{"coding": [{"code": "K-99"}]}],
        "note": [{"text": 1}, "x", {"text": "  "}],
        "identifier": {"value": 1},
    }
    views = {
        "appointments": [view("Appointment", "01929-hk-1", odd)._replace(date=NOW)],
        "referrals": [
            view("ServiceRequest", "01929-ct-1", {"occurrencePeriod": "soon", "performer": "x", "reasonCode": [1]})
        ],
        "prescriptions": [view("MedicationRequest", "01929-dt-1", {"dosageInstruction": "x", "dispenseRequest": []})],
        "allergies": [view("AllergyIntolerance", "01929-du-1", {"reaction": [1, {"manifestation": "x"}]})],
        "visits": [encounter("01929-kb-1", None, period="yesterday", type="x", serviceProvider=[])],
    }
    page = overview_page(**views)
    assert "K-99" in page  # an unknown code is shown as it came
    assert page.count('class="provenance"') == 5


def test_the_first_card_answers_next_appointment_valid_referral_and_what_to_take() -> None:
    """Issue 6: the first screen answers "when is my next appointment, which referral is still valid,
    what should I be taking": one card, before the section links and the search."""
    referral_letter = view("ServiceRequest", "01929-ct-1", letter(), status="active")
    medicines = [
        view("MedicationRequest", f"01929-dt-{n}", {"medicationCodeableConcept": {"text": drug}}, status="active")
        for n, drug in enumerate(["Metformin 500mg", "Amlodipin 5mg", "Atorvastatin 10mg", "Vitamin B1"])
    ]
    timed = appointment_view(start="2025-11-10T08:30:00+07:00", end="2025-11-10T09:00:00+07:00")
    page = overview_page(appointments=[timed], referrals=[referral_letter], prescriptions=medicines)
    glance = page.split('class="card glance"', 1)[1].split("</section>", 1)[0]
    assert page.index('class="card glance"') < page.index('class="section-nav"') < page.index('id="group-appointments"')
    assert "Lịch hẹn tới" in glance and "10/11/2025 08:30" in glance and "Bệnh viện 01929" in glance
    assert "Giấy chuyển tuyến còn hạn" in glance and "Đến BV Hữu Nghị" in glance and "28/11/2025" in glance
    assert "còn 46 ngày" in glance  # 13 October → 28 November
    assert "Metformin 500mg, Amlodipin 5mg, Atorvastatin 10mg" in glance and "và 1 thuốc khác" in glance
    english = overview_page("en", prescriptions=medicines[:1])
    glance = english.split('class="card glance"', 1)[1].split("</section>", 1)[0]
    assert "No upcoming appointment." in glance and "No valid referral letter." in glance and "Metformin" in glance
