# The portal's image: web (gunicorn), worker and beat (celery) and the one-shot migrate service all
# run it (docker-compose.yml). Installs only what requirements.lock pins, each file checked
# against its hash. Pinned base: an exact Python patch release on Debian bookworm.
FROM python:3.11.14-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    PRIVATE_FILES_ROOT=/var/lib/portal/private-files
WORKDIR /app
# DejaVu Sans: invoice PDFs embed it to print names and addresses in any script (billing/pdf.py).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
# The code stays owned by root (the portal's user cannot change it); the source tree is run in
# place (manage.py, gunicorn portal.wsgi, celery -A portal), so the project itself is not installed.
COPY . .
# Static files are collected into the image with the production storage (hashed names, compressed).
# Settings refuse DJANGO_DEBUG=0 without their required variables: placeholders for this step only,
# nothing is connected to and none of them stays in the image.
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only-not-a-secret DJANGO_ALLOWED_HOSTS=build.invalid \
    PORTAL_BASE_URL=https://build.invalid DATABASE_URL=postgres://build.invalid/build \
    VAULT_DATABASE_URL=postgres://build.invalid/vault REDIS_URL=redis://build.invalid:6379/0 \
    DEFAULT_FROM_EMAIL=build@build.invalid SUPPORT_EMAIL=build@build.invalid \
    python manage.py collectstatic --noinput --verbosity 0
# The writable places, mounted as named volumes (a fresh volume takes this owner): customer files
# (web and worker share one) and beat's schedule.
RUN useradd --system --uid 10001 --create-home --home-dir /home/portal portal \
    && mkdir -p /var/lib/portal/private-files /var/lib/portal/beat \
    && chown -R portal:portal /var/lib/portal
USER portal
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
