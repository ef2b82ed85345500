from two_factor.admin import AdminSiteOTPRequired


class PortalAdminSite(AdminSiteOTPRequired):
    """The support staff's admin: reached only through the portal login with a second factor."""

    site_header = "API Platform Portal — Support"
    site_title = "Portal support"
    index_title = "Support"
