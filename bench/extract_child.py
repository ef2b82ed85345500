"""Runs one token extract in its own process and reports its time and peak RSS as JSON.

Started by bench.run with the benchmark's environment; the process's own peak resident set
(VmHWM, which includes Django's import cost) is the figure compared with the 150 MB target.
getrusage's ru_maxrss is not used: Linux keeps it across fork and exec, so a child of the large
benchmark process would report the parent's high-water mark. VmHWM belongs to the new address space.
"""

import json
import sys
import time
from pathlib import Path

import django


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    extract_id = int(sys.argv[1])
    django.setup()
    from extracts.models import ExtractRequest
    from extracts.runner import run_extract

    rss_before = peak_rss_kib()
    started = time.perf_counter()
    status = run_extract(extract_id=extract_id)
    seconds = time.perf_counter() - started
    extract = ExtractRequest.objects.get(pk=extract_id)
    report = {
        "status": status,
        "seconds": seconds,
        "rows": extract.rows_written,
        "size": extract.file.size if extract.file else 0,
        "peak_rss_kib": peak_rss_kib(),
        "rss_after_setup_kib": rss_before,
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
