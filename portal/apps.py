from django.apps import apps
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

# django-otp registers an admin for each device model. Those pages show (or edit) what a customer's
# second factor is made of: a TOTP/HOTP key in hex, its QR code, the backup codes' digests, a
# code waiting to be entered. Support never needs any of it (issue 13 #8, SPEC §10): it acts on a
# customer's factors through the token admin (tokens/admin.py) and "reset second factors".
RAW_DEVICE_MODELS = [
    "otp_totp.TOTPDevice",
    "otp_hotp.HOTPDevice",
    "otp_static.StaticDevice",
    "otp_email.EmailDevice",
]


class PortalAdminConfig(AdminConfig):
    default_site = "portal.admin.PortalAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscovers every app's admin.py, django-otp's plugins included
        for label in RAW_DEVICE_MODELS:
            model = apps.get_model(label)
            if admin.site.is_registered(model):
                admin.site.unregister(model)
