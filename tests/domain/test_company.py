"""The company profile: the built-in one loads, a custom one is read, a bad one is refused naming file and field,
and a department the company does not have is refused at intake and in the actions that name departments."""

from __future__ import annotations

from pathlib import Path

import pytest
from samples import make_intake

from domain.actions import Action, CauseIdentified, Transfer
from domain.company import CompanyProfileError, parse_company_profile
from domain.intake import Intake, IntakeError
from domain.lifecycle import ActionRejected
from domain.refusals import Refusal
from starter.settings import DEFAULT_COMPANY_PROFILE, Settings, SettingsError, load_company_profile

PROFILE = """
legal_name = "Công ty Cổ phần Lưu trữ Sao Mai"
address = "88 Nguyễn Huệ, Quận 1, TP. Hồ Chí Minh"

[[departments]]
code = "customer_care"
name_vi = "Chăm sóc khách hàng"
name_en = "Customer care"
mailbox = "cskh@saomai.vn"
head_mailbox = "truong.cskh@saomai.vn"

[[departments]]
code = "dns"
name_vi = "Tên miền"
name_en = "Domains"
mailbox = "dns@saomai.vn"
head_mailbox = "truong.dns@saomai.vn"
"""


def test_the_built_in_profile_loads_and_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLAINTS_COMPANY_PROFILE", raising=False)
    profile = load_company_profile()
    assert Settings().company() == profile == load_company_profile(DEFAULT_COMPANY_PROFILE)
    assert profile.legal_name.startswith("Công ty") and profile.address
    assert "customer_care" in profile.codes and profile.department_name("customer_care") == "Chăm sóc khách hàng"
    assert profile.department_name("customer_care", "en") == "Customer care"


def test_the_setting_names_a_profile_of_the_company(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "saomai.toml"
    path.write_text(PROFILE, encoding="utf-8")
    monkeypatch.setenv("COMPLAINTS_COMPANY_PROFILE", str(path))
    profile = Settings().company()
    assert profile.legal_name == "Công ty Cổ phần Lưu trữ Sao Mai"
    assert profile.codes == ("customer_care", "dns")
    dns = profile.department("dns")
    assert dns is not None and (dns.mailbox, dns.head_mailbox) == ("dns@saomai.vn", "truong.dns@saomai.vn")
    assert profile.department_name("dns", "vi") == "Tên miền" and profile.department_name("dns", "en") == "Domains"
    assert profile.department_name("billing") == "billing", "a code the profile no longer lists shows as itself"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("legal_name = ", "legal = "), "legal_name: Field required"),
        (('code = "dns"', 'code = "Tên Miền"'), "departments[1].code"),
        (('mailbox = "dns@saomai.vn"', 'mailbox = "dns"'), "departments[1] (dns).mailbox"),
        (('name_en = "Domains"\n', ""), "departments[1] (dns).name_en: Field required"),
        (('code = "dns"', 'code = "customer_care"'), "departments: department code 'customer_care' is listed twice"),
        (('code = "customer_care"', 'code = "support"'), "must include the code 'customer_care'"),
        (("[[departments]]", "[[department]]"), "department: Extra inputs are not permitted"),
        (('legal_name = "', 'legal_name = "\\u202e'), "legal_name"),
        (("legal_name = ", "legal_name = = "), "not valid TOML"),
    ],
)
def test_a_bad_profile_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str], named: str
) -> None:
    path = tmp_path / "bad-company.toml"
    path.write_text(PROFILE.replace(*change, 1), encoding="utf-8")
    monkeypatch.setenv("COMPLAINTS_COMPANY_PROFILE", str(path))
    with pytest.raises(CompanyProfileError) as refused:
        Settings().company()
    assert str(refused.value).startswith(f"{path}: ")
    assert named in str(refused.value)


def test_a_missing_profile_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(CompanyProfileError, match=r"absent\.toml: cannot read"):
        load_company_profile(tmp_path / "absent.toml")


def test_settings_the_profile_replaced_are_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """`COMPLAINTS_COMPANY_NAME` and the department mailbox patterns moved into the profile: set, they would be
    silently ignored, so they are refused, naming what to set instead."""
    monkeypatch.setenv("COMPLAINTS_COMPANY_NAME", "Công ty A")
    with pytest.raises(SettingsError, match=r"COMPLAINTS_COMPANY_NAME .*legal_name in the company profile"):
        Settings()
    monkeypatch.delenv("COMPLAINTS_COMPANY_NAME")
    monkeypatch.setenv("COMPLAINTS_STAFF_EMAIL_DEPARTMENT_HEAD", "{department}-head@example.vn")
    with pytest.raises(SettingsError, match="COMPLAINTS_STAFF_EMAIL_DEPARTMENT_HEAD"):
        Settings()


def test_an_unknown_department_is_refused_at_intake_naming_the_field() -> None:
    profile = parse_company_profile(PROFILE, "saomai.toml")
    profile.check_intake(Intake.model_validate(make_intake(department="dns")))
    with pytest.raises(IntakeError) as refused:
        profile.check_intake(Intake.model_validate(make_intake(department="billing")))
    assert refused.value.field == "department"
    assert refused.value.code == Refusal.DEPARTMENT_UNKNOWN.value == "department_unknown"
    assert refused.value.params == {"department": "billing", "known": ["customer_care", "dns"]}
    assert "no department has the code 'billing'" in str(refused.value)


def test_an_unknown_department_in_an_action_is_refused_naming_the_field() -> None:
    profile = parse_company_profile(PROFILE, "saomai.toml")
    profile.check_action(Action.TRANSFER, Transfer(to_department="dns", reason="r"))
    with pytest.raises(ActionRejected) as transfer:
        profile.check_action(Action.TRANSFER, Transfer(to_department="billing", reason="r"))
    assert transfer.value.code is Refusal.DEPARTMENT_UNKNOWN
    assert transfer.value.params["field"] == "to_department" and transfer.value.params["department"] == "billing"
    cause = CauseIdentified(cause="c", company_at_fault=True, departments=["dns", "network"])
    with pytest.raises(ActionRejected) as named:
        profile.check_action(Action.CAUSE_IDENTIFIED, cause)
    assert named.value.params | {"known": None} == {
        "action": "cause_identified",
        "field": "departments",
        "department": "network",
        "known": None,
    }
