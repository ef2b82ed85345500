"""What a process needs in its environment to start with DJANGO_DEBUG=0 (portal/settings.py refuses
to start without the PRODUCTION_REQUIRED_ENV variables), for tests that start one. Nothing here is
connected to: the addresses only have to be well formed."""

PRODUCTION_REQUIRED_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "portal.example.com,testserver",
    "PORTAL_BASE_URL": "https://portal.example.com",
    "DATABASE_URL": "postgres://portal@db.example.com:5432/portal",
    "VAULT_DATABASE_URL": "postgres://reader@vault.example.com:5432/vault",
    "REDIS_URL": "redis://redis.example.com:6379/0",
    "DEFAULT_FROM_EMAIL": "API Platform Portal <portal@example.com>",
    "SUPPORT_EMAIL": "support@example.com",
}
