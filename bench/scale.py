"""`make bench BENCH_ARGS=--scale`: the page and ingestion figures at 1 and at 1,000 organisations.

The same measurements run twice, each in a child process on its own database: once on the
ordinary benchmark database (the measured organisations and nobody else) and once on
``<database>_scale``, which holds the same measured organisations plus enough others to make
``--organisations`` in all, with a year of counters each and ``--scale-errors`` error rows spread
over them (a few large organisations, the rest small). The report gives each figure at 1 and at
N organisations and their ratio; query counts must be equal and times must stay flat. The data
is generated with bulk SQL once per database and reused while its size matches.

Also reported, for the capacity model in docs/scaling.md: the on-disk size of the error log and
of the counters (tables with their indexes) per million rows and per organisation-year.
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from psycopg import sql

from bench import run
from bench.run import log

LARGE_OTHERS = 4  # besides the measured large organisation, organisations with --errors rows each
SCALE_PREFIX = "BENCH-SCALE-"
PAGE_TIME_FLAT = 1.25  # a page may be this much slower among N organisations (machine noise)
INGEST_FLAT = 0.8  # ingestion among N organisations keeps at least this share of its rate among 1


def scale_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/') or '/portal_bench'}_scale"))


# --- Parent: two children, one report ---------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    run.configure_environment()
    started = time.perf_counter()
    base_url = os.environ["DATABASE_URL"]
    results = {}
    for organisations, url in ((1, base_url), (args.organisations, scale_url(base_url))):
        log(f"scale: measuring with {organisations:,} organisation(s) on {urlsplit(url).path.lstrip('/')}")
        command = [sys.executable, "-m", "bench.scale", "--organisations", str(organisations)]
        command += ["--errors", str(args.errors), "--scale-errors", str(args.scale_errors)]
        command += ["--samples", str(args.samples), "--events", str(args.events)]
        command += ["--ingest-clients", str(args.ingest_clients)]
        output = subprocess.run(  # noqa: S603
            command,
            cwd=run.BASE_DIR,
            env=os.environ | {"DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
            check=True,
            capture_output=False,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        results[organisations] = json.loads(output)
    report = build_report(results[1], results[args.organisations], args)
    report.notes.append(
        f"{os.cpu_count()} CPUs; ran {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {time.perf_counter() - started:.0f} s."
    )
    text = report.render()
    sys.stdout.write(text)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": [r.__dict__ | {"result": r.result} for r in report.rows],
                    "one": results[1],
                    "many": results[args.organisations],
                },
                indent=2,
            )
        )
    missed = [row.figure for row in report.rows if row.passed is False]
    return 1 if missed and args.strict else 0


def build_report(one: dict[str, Any], many: dict[str, Any], args: argparse.Namespace) -> run.Report:
    report = run.Report()
    n = f"{many['organisations']:,} orgs"
    for who in ("small", "large"):
        for page, figures in many["pages"][who].items():
            base = one["pages"][who][page]
            report.add(
                f"SQL queries, {page}, {who} organisation",
                f"{figures['queries']} ({n})",
                f"{base['queries']} (1 org)",
                f"{figures['queries'] / base['queries']:.2f}",
                "equal",
                figures["queries"] == base["queries"],
            )
            for how in ("client_ms", "http_ms"):
                label = "test client" if how == "client_ms" else "HTTP (gunicorn)"
                ratio = figures[how] / base[how]
                report.add(
                    f"{page}, {who} organisation, {label}, median",
                    f"{figures[how]:.1f} ms ({n})",
                    f"{base[how]:.1f} ms (1 org)",
                    f"{ratio:.2f}",
                    f"<= {PAGE_TIME_FLAT}",
                    ratio <= PAGE_TIME_FLAT,
                )
    one_org, many_orgs = one["ingest"]["one"], many["ingest"]["one"]
    ratio = many_orgs["rate"] / one_org["rate"]
    report.add(
        f"ingestion over HTTP, one organisation per batch, {args.ingest_clients} clients at once",
        f"{many_orgs['rate']:,.0f} events/s ({many_orgs['organisations_in_turn']:,} orgs in turn)",
        f"{one_org['rate']:,.0f} events/s (1 org)",
        f"{ratio:.2f}",
        f">= {INGEST_FLAT}",
        ratio >= INGEST_FLAT,
    )
    spread = many["ingest"]["every"]
    ratio = spread["rows_rate"] / one_org["rows_rate"]
    report.add(
        "ingestion over HTTP, every organisation in each batch (worst case), rows written per second",
        f"{spread['rows_rate']:,.0f} rows/s = {spread['rate']:,.0f} events/s "
        f"({spread['organisations']:,} orgs and {spread['rows_per_batch']:,.0f} rows per batch)",
        f"{one_org['rows_rate']:,.0f} rows/s = {one_org['rate']:,.0f} events/s "
        f"(1 org, {one_org['rows_per_batch']:,.0f} rows per batch)",
        f"{ratio:.2f}",
        f">= {INGEST_FLAT}",
        ratio >= INGEST_FLAT,
    )
    storage = many["storage"]
    report.notes = [
        f"Data at {n}: {storage['errors']:,} error rows, {storage['counters']:,} counter rows, "
        f"{storage['organisations']:,} organisations, {storage['users']:,} users.",
        f"Storage: error log {storage['error_bytes'] / 2**30:.2f} GiB with indexes = "
        f"{storage['error_bytes'] / max(storage['errors'], 1) * 1e6 / 2**20:.0f} MiB per million rows; "
        f"counters {storage['counter_bytes'] / 2**20:.0f} MiB = "
        f"{storage['counter_bytes'] / max(storage['counters'], 1) * 365 * 12 / 2**20:.2f} MiB per "
        f"organisation-year (365 days x 12 methods).",
    ]
    return report


# --- Child: one database, one set of figures ------------------------------------------------------


def child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    for name in ("--organisations", "--errors", "--scale-errors", "--samples", "--events", "--ingest-clients"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args(argv)
    run.configure_environment()
    run.ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(run.BASE_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    people = run.prepare_portal_data(errors=args.errors)
    others = ensure_other_organisations(
        args.organisations - 3, errors=args.scale_errors - args.errors, large_errors=args.errors
    )
    pages = measure_pages(people, samples=args.samples)
    ingest_orgs = [people.ingest_org.public_id, *others] if others else [people.ingest_org.public_id]
    ingest = {
        shape: measure_spread_ingestion(
            people, ingest_orgs, events=args.events, clients=args.ingest_clients, each_batch=shape
        )
        for shape in ("one", "every")
    }
    result = {"organisations": args.organisations, "pages": pages, "ingest": ingest, "storage": storage()}
    sys.stdout.write(json.dumps(result))


def ensure_other_organisations(count: int, *, errors: int, large_errors: int) -> list[str]:
    """``count`` more organisations, each with an admin, a year of counters and its share of ``errors``."""
    from accounts.models import Organisation, Role, User
    from dashboard.models import DailyMethodCount, ErrorLog

    if count <= 0:
        return []
    have = Organisation.objects.filter(registration_number__startswith=SCALE_PREFIX)
    ids = list(have.order_by("registration_number").values_list("pk", flat=True))
    ErrorLog.objects.filter(request_id__startswith="scale_").delete()  # left by an interrupted run
    error_count = ErrorLog.objects.filter(organisation_id__in=ids).count() if ids else 0
    if len(ids) == count and error_count == errors:
        log(f"scale: reusing {count:,} organisations with {errors:,} error rows")
        return list(have.order_by("registration_number").values_list("public_id", flat=True))
    log(f"scale: generating {count:,} organisations (had {len(ids):,}), {errors:,} error rows")
    started = time.perf_counter()
    if len(ids) != count:
        User.objects.filter(organisation_id__in=ids).delete()
        ErrorLog.objects.filter(organisation_id__in=ids).delete()
        DailyMethodCount.objects.filter(organisation_id__in=ids).delete()
        have.delete()
        Organisation.objects.bulk_create(
            Organisation(
                name=f"Scale Org {n:05d} Ltd",
                registration_number=f"{SCALE_PREFIX}{n:05d}",
                country="United Kingdom",
                address=f"{n} Scale Street",
            )
            for n in range(count)
        )
        ids = list(have.order_by("registration_number").values_list("pk", flat=True))
        User.objects.bulk_create(
            User(
                email=f"owner{n:05d}@bench-scale.example",
                full_name="Scale Owner",
                organisation_id=org_id,
                role=Role.ADMIN,
                password="!",
            )  # an unusable password: nobody logs in as them
            for n, org_id in enumerate(ids)
        )
        with run.connect(os.environ["DATABASE_URL"]) as conn:
            counters_day_by_day(conn, ids, days=run.COUNTER_DAYS, methods=run.METHODS)
    large, small = ids[:LARGE_OTHERS], ids[LARGE_OTHERS:]
    large_total = min(errors, large_errors * len(large))
    with run.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute(sql.SQL("DELETE FROM {} WHERE organisation_id = ANY(%s)").format(run.table(ErrorLog)), [ids])
        for org_id in large:
            run.ensure_errors(conn, org_id, large_total // len(large))
        spread_errors(conn, small, errors - (large_total // len(large)) * len(large))
    log(f"scale: generated in {time.perf_counter() - started:.0f} s")
    return list(have.order_by("registration_number").values_list("public_id", flat=True))


def counters_day_by_day(conn: Any, org_ids: list[int], *, days: int, methods: list[str]) -> None:
    """A year of counters for every organisation, written in the order ingestion writes them: day by
    day, each day's rows of every organisation together (so the rows the current day's batches
    update share pages, as in production, instead of lying one per organisation's year)."""
    from dashboard.models import DailyMethodCount

    last = datetime.now(UTC).date()
    log(f"counters: {days} days x {len(methods)} methods for {len(org_ids):,} organisations, day by day")
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (organisation_id, method, day, calls, errors) "
            "SELECT o, m, d, c, c / 50 FROM ("
            " SELECT o, m, d::date AS d, (1000 + floor(random() * 100000))::bigint AS c"
            " FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d,"
            " unnest(%(orgs)s::bigint[]) AS o, unnest(%(methods)s::text[]) AS m) AS s ORDER BY d, o, m"
        ).format(run.table(DailyMethodCount)),
        {"orgs": org_ids, "methods": methods, "first": last - timedelta(days=days - 1), "last": last},
    )


def spread_errors(conn: Any, org_ids: list[int], rows: int) -> None:
    """``rows`` error rows dealt round-robin over ``org_ids``, spread over the retention period."""
    from dashboard.models import ErrorLog

    log(f"scale: {rows:,} error rows over {len(org_ids):,} organisations")
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (organisation_id, at, method, code, message, request_id, source_ip) "
            "SELECT (%(orgs)s::bigint[])[1 + i %% %(norgs)s],"
            " %(newest)s::timestamptz - (i::bigint * %(step)s::bigint) * interval '1 microsecond',"
            " (%(methods)s::text[])[1 + i %% %(nmethods)s],"
            " (ARRAY['invalid_token', 'rate_limited', 'not_found', 'forbidden', 'internal'])[1 + (i / 7) %% 5],"
            " 'The token could not be processed (call ' || i || ')',"
            " 'req_s' || md5(i::text),"
            " ('10.' || (i / 65536) %% 256 || '.' || (i / 256) %% 256 || '.' || i %% 256)::inet"
            " FROM generate_series(0, %(rows)s - 1) AS i"
        ).format(run.table(ErrorLog)),
        {
            "orgs": org_ids,
            "norgs": len(org_ids),
            "newest": datetime.now(UTC),
            "step": run.ERROR_SPAN_DAYS * 86_400 * 1_000_000 // max(rows, 1),
            "methods": run.METHODS,
            "nmethods": len(run.METHODS),
            "rows": rows,
        },
    )
    conn.execute(sql.SQL("ANALYZE {}").format(run.table(ErrorLog)))


def measure_pages(people: run.People, *, samples: int) -> dict[str, dict[str, dict[str, float]]]:
    from django.conf import settings

    figures: dict[str, dict[str, dict[str, float]]] = {}
    port = run.free_port()
    with run.gunicorn(port):
        for who, user, org in (
            ("small", people.small_user, people.small_org),
            ("large", people.large_user, people.large_org),
        ):
            client = run.logged_in_client(user)
            cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
            pages = {
                "dashboard /": "/",
                "error log, first page": "/errors/",
                "error log, deep filtered page": run.deep_error_path(org.pk),
            }
            figures[who] = {}
            for name, path in pages.items():
                log(f"scale: {who} organisation, {name}")
                figures[who][name] = {
                    "queries": run.query_count(client, path),
                    "client_ms": run.measure(functools.partial(run.client_get, client, path), samples).median_ms,
                    "http_ms": run.measure(functools.partial(run.http_get, port, path, cookie), samples).median_ms,
                }
    return figures


def measure_spread_ingestion(
    people: run.People, orgs: list[str], *, events: int, clients: int, each_batch: str
) -> dict[str, Any]:
    """Batches sent by ``clients`` at once: with ``each_batch="one"``, each batch holds one
    organisation's events, the organisations taking turns (a platform node per customer); with
    ``"every"``, each batch's events are dealt over every organisation (the worst case: one counter
    row per event instead of one per method). Reports events and rows written per second."""
    from dashboard.ingest import usage_batch
    from dashboard.models import DailyMethodCount, ErrorLog, IngestedBatch
    from platform_api.models import PlatformKey
    from platform_api.services import issue_key

    port = run.free_port()
    key_row, key = issue_key(name="bench-scale", acting_user=None)
    batches = max(1, events // run.BATCH_EVENTS)
    tag = uuid.uuid4().hex[:10]
    bodies, rows_written = [], 0
    for n in range(batches):
        rows = run.make_events(orgs[n % len(orgs)], run.BATCH_EVENTS)
        for m, event in enumerate(rows):
            if each_batch == "every":
                event["org"] = orgs[m % len(orgs)]
            if "error" in event:
                event["error"]["request_id"] = f"scale_{tag}_{n}_{m}"
        body = json.dumps({"batch_id": f"scale-{tag}-{n}", "events": rows}).encode()
        batch = usage_batch(body)
        rows_written += len(batch.counters) + len(batch.buckets) + len(batch.source_calls) + len(batch.failed_calls)
        bodies.append(body)
    try:
        with run.gunicorn(port):
            shape = "one organisation per batch" if each_batch == "one" else "every organisation in each batch"
            log(f"scale: ingesting {batches * run.BATCH_EVENTS:,} events, {shape} ({len(orgs):,} organisations)")
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                list(pool.map(lambda body: run.post_batch(port, key, body), bodies))
            seconds = time.perf_counter() - started
    finally:
        PlatformKey.objects.filter(pk=key_row.pk).delete()
    ErrorLog.objects.filter(request_id__startswith=f"scale_{tag}_").delete()
    DailyMethodCount.objects.filter(organisation=people.ingest_org).delete()
    IngestedBatch.objects.filter(batch_id__startswith=f"scale-{tag}-").delete()
    return {
        "rate": batches * run.BATCH_EVENTS / seconds,
        "rows_rate": rows_written / seconds,
        "rows_per_batch": rows_written / batches,
        "organisations": min(len(orgs), run.BATCH_EVENTS) if each_batch == "every" else 1,
        "organisations_in_turn": min(len(orgs), batches) if each_batch == "one" else len(orgs),
    }


def storage() -> dict[str, int]:
    from django.db import connection

    from accounts.models import Organisation, User
    from dashboard.models import DailyMethodCount, ErrorLog

    with connection.cursor() as cursor:
        sizes = {}
        for name, model in (("error_bytes", ErrorLog), ("counter_bytes", DailyMethodCount)):
            cursor.execute("SELECT pg_total_relation_size(%s)", [model._meta.db_table])
            sizes[name] = int(cursor.fetchone()[0])
    return sizes | {
        "errors": ErrorLog.objects.count(),
        "counters": DailyMethodCount.objects.count(),
        "organisations": Organisation.objects.count(),
        "users": User.objects.count(),
    }


if __name__ == "__main__":
    child(sys.argv[1:])
