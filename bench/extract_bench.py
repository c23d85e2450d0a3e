"""The nightly-extract importer against a bare COPY, on the local PostgreSQL.

    .venv/bin/python bench/extract_bench.py [--records 5000000] [--nightly 50000] [--repeat 1]

In one run it:

1. creates a throw-away database (`--database`, dropped afterwards unless
   `--keep-database`) and migrates it;
2. generates an extract of `--records` realistic cases (`penaltypay generate-extract`'s
   generator; `--bad-share` of them broken on purpose);
3. parses the same file once more, untimed, into COPY text rows: exactly the rows the
   importer stores;
4. times a **bare COPY** of those rows into an empty table of the same shape
   (`CREATE TABLE ... (LIKE case_record INCLUDING ALL)`: same columns, same primary key);
5. times the **importer**: `penaltypay import-extract FILE --json` as its own process
   into the empty case store (whole-file checks, record rules, run record, one
   transaction), with its peak memory (the child's maximum resident set);
6. times a nightly file of `--nightly` records on top (70 % updates of cases now in
   the store, 30 % new), the target being under 2 s.

Prints both times, the ratio importer / COPY (target 1.5 at most), records a second and
peak memory. A CHECKPOINT comes before every timed load. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from penaltypay.extract import copy_rows, generator  # noqa: E402  (no Django needed)
from penaltypay.extract.reader import ExtractReader

COLUMNS = (
    "reference, case_type, vrm, vehicle_make, vehicle_colour, issue_date, penalty_pence, reduced_penalty_pence, "
    "reduction_deadline, arrears_pence, arrears_from, arrears_to, pay_by_date, status, amount_paid_pence, "
    "ecs_last_updated, source, refreshed_at"
)


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def mib(kilobytes: int) -> float:
    return kilobytes / 1024


def run_importer(url: str, path: Path, *extra: str) -> tuple[float, float, dict]:
    """(wall seconds, peak memory MiB, the JSON line) of one `penaltypay import-extract` process."""
    env = {**os.environ, "DATABASE_URL": url, "PENALTYPAY_ENV": "test", "LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-m", "penaltypay.cli", "import-extract", str(path), "--json", *extra],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage: its peak memory
        wall = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"import failed ({child.returncode}):\n{err.read().decode()[-3000:]}")
        return wall, mib(usage.ru_maxrss), json.loads(out.read().decode().splitlines()[-1])


def main() -> None:
    parser_ = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser_.add_argument("--records", type=int, default=5_000_000)
    parser_.add_argument("--nightly", type=int, default=50_000)
    parser_.add_argument("--bad-share", type=float, default=0.0)
    parser_.add_argument("--repeat", type=int, default=1, help="time both loads this many times (best is reported)")
    parser_.add_argument("--server-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser_.add_argument("--database", default="penaltypay_extract_bench")
    parser_.add_argument("--workdir", default=None, help="where the files go (default: a temporary folder)")
    parser_.add_argument("--keep-database", action="store_true")
    parser_.add_argument("--keep-files", action="store_true")
    args = parser_.parse_args()

    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.database):
        raise SystemExit(f"bad database name {args.database!r}")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="extract-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = database_url(args.server_url, args.database)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; files in {workdir}", flush=True)

    with psycopg.connect(args.server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {args.database}")
    env = {**os.environ, "DATABASE_URL": url, "PENALTYPAY_ENV": "test", "LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "penaltypay.cli", "migrate", "-v0"], cwd=REPO, env=env, check=True)

    try:
        extract_date = date(2026, 11, 24)
        started = time.monotonic()
        first = generator.generate(
            workdir, args.records, sequence=1, extract_date=extract_date, bad_share=args.bad_share, seed=1
        )
        print(
            f"generated {first.count:,} records ({first.bad:,} bad) in {time.monotonic() - started:.1f} s: "
            f"{first.path.name}, {first.path.stat().st_size / 2**20:,.0f} MiB",
            flush=True,
        )

        # The rows the importer stores, parsed once more (untimed) for the bare COPY.
        started = time.monotonic()
        rows_path = workdir / "rows.copy"
        tail = b"\\N\textract\t" + datetime.now().astimezone().isoformat().encode() + b"\n"
        valid = 0
        with open(first.path, "rb") as stream, open(rows_path, "wb") as out:
            reader = ExtractReader(stream)
            reader.header()
            for first_line, lines in reader.batches():
                rows, _, _, _ = copy_rows.copy_batch(lines, first_line, tail)
                valid += len(rows)
                out.write(b"".join(row.split(b"\t", 1)[1] for row in rows))  # without the line number
        print(
            f"parsed {valid:,} valid rows for the bare COPY in {time.monotonic() - started:.1f} s (untimed)", flush=True
        )

        copy_times, import_times, import_walls, peaks, results = [], [], [], [], []
        with psycopg.connect(url, autocommit=True) as conn:
            for _attempt in range(args.repeat):
                conn.execute("DROP TABLE IF EXISTS extract_bench_copy")
                conn.execute("CREATE TABLE extract_bench_copy (LIKE case_record INCLUDING ALL)")
                conn.execute("CHECKPOINT")
                started = time.monotonic()
                with conn.transaction(), conn.cursor() as cursor:
                    with cursor.copy(f"COPY extract_bench_copy ({COLUMNS}) FROM STDIN") as copy:
                        with open(rows_path, "rb") as rows:
                            while block := rows.read(1024 * 1024):
                                copy.write(block)
                copy_times.append(time.monotonic() - started)
                conn.execute("DROP TABLE extract_bench_copy")
                print(f"bare COPY:  {copy_times[-1]:7.1f} s", flush=True)

                conn.execute("TRUNCATE case_record, extract_record_issue, extract_import")
                conn.execute("CHECKPOINT")
                wall, peak, result = run_importer(url, first.path, "--first-sequence", "1")
                import_walls.append(wall)
                import_times.append(result["seconds"])
                peaks.append(peak)
                results.append(result)
                print(
                    f"importer:   {wall:7.1f} s wall ({result['seconds']:.1f} s in the run, {result['method']}): "
                    f"read {result['read']:,}, applied {result['applied']:,}, rejected {result['rejected']:,}",
                    flush=True,
                )
                stored = conn.execute("SELECT count(*) FROM case_record").fetchone()[0]
                assert stored == result["applied"] == valid, (stored, result["applied"], valid)

            nightly = generator.generate(
                workdir,
                args.nightly,
                sequence=2,
                extract_date=extract_date + timedelta(1),
                seed=2,
                first_index=args.records - int(args.nightly * 0.7),
            )
            conn.execute("CHECKPOINT")
            night_wall, night_peak, night = run_importer(url, nightly.path)

        best_copy, best_import, best_wall = min(copy_times), min(import_times), min(import_walls)
        print()
        print(f"records:                  {args.records:,} ({first.bad:,} bad)")
        print(
            f"bare COPY:                {best_copy:.1f} s  ({valid / best_copy:,.0f} rows/s)"
            + (f"  all: {', '.join(f'{t:.1f}' for t in copy_times)}" if args.repeat > 1 else "")
        )
        print(
            f"importer:                 {best_import:.1f} s in the run, {best_wall:.1f} s wall with start-up "
            f"({args.records / best_import:,.0f} records/s)"
            + (f"  all: {', '.join(f'{t:.1f}' for t in import_times)}" if args.repeat > 1 else "")
        )
        print(
            f"ratio importer / COPY:    {best_import / best_copy:.2f} (run), {best_wall / best_copy:.2f} (wall)"
            f"  target <= 1.5"
        )
        print(
            f"importer peak memory:     {max(peaks):.0f} MiB (the process's maximum resident set); "
            f"nightly {night_peak:.0f} MiB"
        )
        print(
            f"nightly {args.nightly:,} records:  {night['seconds']:.2f} s in the run ({night['method']}), "
            f"{night_wall:.2f} s wall; applied {night['applied']:,}  target < 2 s"
        )
        print(f"load average at the end:  {os.getloadavg()[0]:.2f}")
    finally:
        if not args.keep_database:
            with psycopg.connect(args.server_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        else:
            print(f"kept database {args.database}")
        if not args.keep_files:
            for path in workdir.glob("*"):
                path.unlink()
            if not args.workdir:
                workdir.rmdir()


if __name__ == "__main__":
    main()
