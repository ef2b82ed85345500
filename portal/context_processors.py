from typing import Any

from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict[str, Any]:
    return {
        "portal_environment": settings.PORTAL_ENVIRONMENT,
        "is_test_environment": settings.PORTAL_ENVIRONMENT == "test",
        "support_email": settings.SUPPORT_EMAIL,
        "lockout_minutes": round(settings.AXES_COOLOFF_TIME * 60),
    }
