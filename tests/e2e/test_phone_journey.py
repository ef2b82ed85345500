"""A member adds a fallback number from another country, then logs in with it (issue 19), on a desk
and on a phone."""

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.journeys import authenticator_code, enter_code, enter_password
from tests.factories import OrganisationFactory, UserFactory
from tokens.models import SmsDevice

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_member_picks_a_country_for_the_fallback_number_and_sees_it_masked_at_login(
    live_server, transactional_db, page: Page, console_messages, width, tmp_path
):
    page.set_viewport_size({"width": width, "height": 900})
    member = UserFactory.create(
        organisation=OrganisationFactory(name="Acme Payments Ltd"), email="max@acme.example", full_name="Max Member"
    )
    enter_password(page, live_server.url, member)
    enter_code(page, authenticator_code(member))
    expect(page.get_by_role("heading", name="Welcome, Max Member")).to_be_visible()

    # The reminder on home leads to the number; the country starts at the default region.
    page.goto(live_server.url + "/setup/phone/")
    expect(page.get_by_role("heading", name="Add a fallback mobile number")).to_be_visible()
    country = page.get_by_label("Mobile number: country", exact=True)
    expect(country).to_have_value("GB")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=tmp_path / f"phone-step-{width}.png", full_page=True)

    country.select_option("FR")
    page.get_by_label("Mobile number", exact=True).fill("06 12 34 56 78")
    page.get_by_role("button", name="Send code").click()

    expect(page.get_by_text("We sent a code to +33 6 12 34 56 78", exact=False).first).to_be_visible()
    code = SmsDevice.objects.get(user=member, confirmed=False).token
    page.get_by_label("Code", exact=True).fill(str(code))
    page.get_by_role("button", name="Confirm number").click()
    expect(page.get_by_role("heading", name="Welcome, Max Member")).to_be_visible()

    # Next login: before the second factor only the last four digits show.
    page.context.clear_cookies()
    enter_password(page, live_server.url, member)
    button = page.get_by_role("button", name="Text a code to •••• •• 5678")
    expect(button).to_be_visible()
    expect(page.get_by_text("+33 6 12 34 56 78")).to_have_count(0)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=tmp_path / f"login-code-{width}.png", full_page=True)
    button.click()
    expect(page.get_by_role("status").filter(has_text="We sent a code to •••• •• 5678.")).to_be_visible()

    assert [m for m in console_messages if m.startswith("pageerror:") or "Content Security Policy" in m] == []
