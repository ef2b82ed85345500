"""Steps the browser journeys share: logging in through the real two-step login pages."""

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.factories import PASSWORD


def authenticator_code(user: User) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def enter_password(page: Page, base_url: str, user: User) -> None:
    page.goto(base_url + "/login/")
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()


def enter_code(page: Page, code: str) -> None:
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Verify").click()


def log_in(page: Page, base_url: str, user: User) -> None:
    enter_password(page, base_url, user)
    enter_code(page, authenticator_code(user))
