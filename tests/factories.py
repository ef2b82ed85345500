import functools

import factory
from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Organisation, Role, User
from tokens.models import Token, TokenKind

PASSWORD = "correct-horse-battery-staple"


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once per run: Argon2 is slow on purpose, and every factory user shares it."""
    return make_password(PASSWORD)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Company {n} Ltd")
    registration_number = factory.Sequence(lambda n: f"{10000000 + n}")
    address = "1 High Street\nLondon"
    country = "United Kingdom"


class UserFactory(factory.django.DjangoModelFactory):
    """An onboarded user: own password, confirmed authenticator app, set-up finished."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.USER
    onboarded_at = factory.LazyFunction(timezone.now)
    password = factory.LazyFunction(lambda: password_hash())

    @factory.post_generation
    def totp(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create and extracted is not False and obj.onboarded_at:
            device = TOTPDevice.objects.create(user=obj, name="authenticator", confirmed=True)
            Token.objects.create(
                user=obj,
                kind=TokenKind.TOTP,
                device_type=ContentType.objects.get_for_model(device),
                device_id=device.pk,
            )


class AdminFactory(UserFactory):
    role = Role.ADMIN


class NewUserFactory(UserFactory):
    """Added by an admin, welcome email not yet used: no password, no factor."""

    onboarded_at = factory.LazyFunction(lambda: None)
    password = factory.LazyFunction(lambda: "!unusable")
    # No authenticator either: UserFactory's ``totp`` hook skips users without onboarded_at.
