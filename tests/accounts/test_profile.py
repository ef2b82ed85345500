"""The profile page: own details, contact numbers, company details and requests to change them."""

import pytest
from django.forms.models import model_to_dict

from accounts.models import CompanyDetailsChangeRequest, Organisation, User
from tests.conftest import page_text as _page
from tests.factories import OrganisationFactory


def _header(response) -> str:
    page = _page(response)
    return page[page.index("<header") : page.index("</header>")]


def _org_row(organisation: Organisation) -> dict:
    return model_to_dict(Organisation.objects.get(pk=organisation.pk))


@pytest.fixture
def organisation(db):
    return OrganisationFactory(
        name="Acme Payments Ltd",
        registration_number="09876543",
        vat_number="GB123456789",
        address="1 High Street\nLondon",
        country="United Kingdom",
    )


# --- What the page shows ----------------------------------------------------------------------


def test_profile_shows_the_user_and_the_company(member_client, member):
    response = member_client.get("/profile/")

    assert response.status_code == 200
    page = _page(response)
    assert f"<dt>User ID</dt><dd><code>{member.pk}</code></dd>" in page
    assert "<dt>Login email</dt><dd>member@acme.example</dd>" in page
    assert "<dt>Registered name</dt><dd>Acme Payments Ltd</dd>" in page
    assert "<dd>09876543</dd>" in page
    assert "<dd>GB123456789</dd>" in page
    assert "1 High Street<br>London" in page
    assert "<dd>United Kingdom</dd>" in page
    assert member.organisation.public_id in page


def test_company_details_are_not_editable_fields(member_client):
    page = _page(member_client.get("/profile/"))

    # The only company fields on the page are the (empty) change-request form's.
    assert 'value="Acme Payments Ltd"' not in page
    assert 'value="09876543"' not in page
    assert 'value="GB123456789"' not in page


def test_profile_of_an_unverified_company_says_not_verified(member_client):
    response = member_client.get("/profile/")

    assert "Not verified" in _page(response)
    assert ">Verified<" not in _page(response)


def test_profile_of_a_verified_company_says_verified(member_client, organisation):
    Organisation.objects.filter(pk=organisation.pk).update(is_verified=True)

    response = member_client.get("/profile/")

    assert ">Verified<" in _page(response)
    assert "Not verified" not in _page(response)


@pytest.mark.parametrize("url", ["/", "/profile/", "/users/"])
def test_header_shows_the_verification_stamp_on_every_page(owner_client, organisation, url):
    assert "Not verified" in _header(owner_client.get(url))

    Organisation.objects.filter(pk=organisation.pk).update(is_verified=True)

    header = _header(owner_client.get(url))
    assert ">Verified<" in header
    assert "Not verified" not in header


def test_profile_shows_only_the_users_own_organisation(outsider_client, member):
    page = _page(outsider_client.get("/profile/"))

    assert "Globex Corp" in page
    assert "Acme Payments Ltd" not in page
    assert "member@acme.example" not in page


def test_anonymous_visitor_is_sent_to_login(client, db):
    response = client.get("/profile/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/profile/"


# --- Contact numbers --------------------------------------------------------------------------


def test_user_saves_telephone_and_mobile_in_e164(member_client, member):
    response = member_client.post(
        "/profile/",
        {"save_numbers": "1", "telephone": "020 7946 0958", "mobile": "07911 123456"},
        follow=True,
    )

    assert response.redirect_chain == [("/profile/", 302)]
    assert "Your numbers are saved." in _page(response)
    member.refresh_from_db()
    assert member.telephone == "+442079460958"
    assert member.mobile == "+447911123456"
    assert 'value="+44 20 7946 0958"' in _page(response)  # shown with spaces, stored in E.164


def test_number_with_a_foreign_country_code_is_kept(member_client, member):
    member_client.post("/profile/", {"save_numbers": "1", "telephone": "+1 212 555 0100", "mobile": ""})

    member.refresh_from_db()
    assert member.telephone == "+12125550100"
    assert member.mobile == ""


def test_user_clears_their_numbers(member_client, member):
    User.objects.filter(pk=member.pk).update(telephone="+442079460958", mobile="+447911123456")

    member_client.post("/profile/", {"save_numbers": "1", "telephone": "", "mobile": ""})

    member.refresh_from_db()
    assert member.telephone == ""
    assert member.mobile == ""


@pytest.mark.parametrize(
    ("numbers", "message"),
    [
        ({"telephone": "12345", "mobile": "07911 123456"}, "This phone number is not valid"),
        ({"telephone": "020 7946 0958", "mobile": "call me"}, "This is not a phone number."),
        ({"telephone": "", "mobile": "+44 7911 12345678"}, "This phone number is not valid"),
    ],
    ids=["short-telephone", "words-for-mobile", "too-long-mobile"],
)
def test_invalid_number_shows_a_message_and_changes_nothing(member_client, member, numbers, message):
    User.objects.filter(pk=member.pk).update(telephone="+442079460000", mobile="+447911000000")

    response = member_client.post("/profile/", {"save_numbers": "1", **numbers})

    assert message in _page(response)
    assert "Your numbers are saved." not in _page(response)
    member.refresh_from_db()
    assert member.telephone == "+442079460000"
    assert member.mobile == "+447911000000"


# --- Company details --------------------------------------------------------------------------


def test_company_details_cannot_be_changed_by_posting_fields(member_client, organisation):
    before = _org_row(organisation)
    forged = {
        "name": "Evil Corp",
        "registration_number": "00000000",
        "vat_number": "XX",
        "address": "Elsewhere",
        "country": "Nowhere",
        "is_verified": "on",
        "user_limit": "99",
    }

    member_client.post("/profile/", forged)
    member_client.post("/profile/", {"save_numbers": "1", "telephone": "", "mobile": "", **forged})

    assert _org_row(organisation) == before


def test_another_organisations_request_is_not_shown(member_client, outsider):
    CompanyDetailsChangeRequest.objects.create(
        organisation=outsider.organisation, requested_by=outsider, name="Globex Holdings"
    )

    page = _page(member_client.get("/profile/"))

    assert "A change request is with support" not in page
