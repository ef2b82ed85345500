import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

application = get_wsgi_application()

# What is loaded by now (Django, the apps, their modules: some 170,000 objects) lives as long as the
# process. Frozen, the garbage collector stops walking it on each full collection, which requests
# that allocate many objects (a usage batch of 5,000 events) would otherwise set off every few
# requests, at several milliseconds each. Frozen objects are never collected: at start-up, those
# are what the process keeps anyway.
gc.freeze()
