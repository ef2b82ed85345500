"""The portal's date formats (Django's format syntax), used by every page through the ``date`` filter.

Day, short month and year, then the 24-hour time: "3 Dec 2026", "3 Dec 2026, 12:41", "12:41".
Times are shown to the minute; a page that needs the second (error log, audit trail, webhook
deliveries) puts the exact instant in the ``<time datetime>`` attribute and its title.
"""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
MONTH_DAY_FORMAT = "j M"
