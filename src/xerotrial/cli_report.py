"""``xerotrial report`` and ``xerotrial demo``: a trial store to its report folder.

* ``xerotrial report --db URL --out DIR`` analyses any trial store with the prespecified plan
  and writes DIR/report.html, DIR/tables/, DIR/figures/ and DIR/data/.
* ``xerotrial demo --out DIR`` first builds the **synthetic** demo trial (CRF files in
  DIR/crf/, imported into a fresh DIR/trial.db), then does the same.

Both show a progress bar on standard error and print the report's path last. The store is
checked against its audit trail first: when it fails, a bold warning goes to standard error
and the report carries a NOT VERIFIED banner.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_common import actor_options, command_actor, fail, run_or_fail, stderr_console
from .cli_store import db_option

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["report_command", "demo_command"]

#: Steps of build_report_data (4) and the writing of the folder (1).
_REPORT_STEPS = 5


def _out_option(default: str):
    return click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(default),
        help="Folder for the report (created).",
    )


def _progress(total: int) -> tuple[Progress, Callable[[str], None]]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=False,
    )
    task = bar.add_task("starting", total=total)

    def step(text: str) -> None:
        bar.update(task, description=text, advance=1)

    return bar, step


def _report(
    engine,
    source: str,
    out: Path,
    step: Callable[[str], None],  # noqa: ANN001
    synthetic: bool | None = None,
) -> Path:
    from .analysis.build import build_report_data
    from .cli_store import audit_warning
    from .report.write import write_report
    from .store.integrity import check_store

    audit = check_store(engine)
    audit_warning(audit)
    data = build_report_data(engine, source, synthetic=synthetic, step=step, audit=audit)
    step("writing the report")
    return write_report(data, out)


@click.command("report", short_help="Analyse a trial store and write its report")
@db_option
@_out_option("report")
@click.option(
    "--synthetic/--not-synthetic",
    default=None,
    show_default=False,
    help="Label the report as synthetic data (default: as the store's sites say).",
)
@click.option(
    "--dmc",
    type=click.Choice(["open", "closed"]),
    help="The DMC report: open session (pooled) or closed session (by arm; unblinded roles)",
)
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The DMC report's date (windows, overdue visits; default: today)",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf", "docx", "rtf"]),
    default="html",
    show_default=True,
    help="The report's format: the HTML folder, and with it report.pdf (print layout), "
    "report.docx or report.rtf (the tables, for medical writers)",
)
@actor_options
def report_command(db: str | None, out: Path, synthetic: bool | None, dmc: str | None,
                   as_of: dt.datetime | None, fmt: str, as_name: str | None,
                   password_file: Path | None) -> None:  # fmt: skip
    """Analyse a trial store as the statistical analysis plan says and write the report;
    with --dmc, the data monitoring committee's open (pooled) or closed (by arm) session.
    --format pdf|docx|rtf also writes the report in that format (its path printed last)."""
    from sqlalchemy.engine import make_url

    from .store.engine import open_store, resolve_url

    url = resolve_url(db)
    source = make_url(url).render_as_string(hide_password=True)
    actor = command_actor(db, as_name, password_file)
    engine = run_or_fail(lambda: open_store(url))
    from .cli_store import _is_study_store

    if dmc is not None:
        if not _is_study_store(engine):
            fail("report --dmc is for study stores (init --study DEF)")
        from .cli_store import audit_warning
        from .report.dmc import write_dmc_report
        from .store.integrity import check_store

        audit_warning(run_or_fail(lambda: check_store(engine)))
        day = None if as_of is None else as_of.date()
        path = run_or_fail(
            lambda: write_dmc_report(
                engine, out, session=dmc, actor=actor, source=source, as_of=day
            )
        )
        click.echo(str(_in_format(path, fmt).resolve()))
        return
    if _is_study_store(engine):
        from .cli_store import audit_warning
        from .report.study_report import write_study_report
        from .store.integrity import check_store

        audit_warning(run_or_fail(lambda: check_store(engine)))
        path = run_or_fail(lambda: write_study_report(engine, out, source))
        click.echo(str(_in_format(path, fmt).resolve()))
        return
    bar, step = _progress(_REPORT_STEPS)
    with bar:
        path = run_or_fail(lambda: _report(engine, source, out, step, synthetic))
    click.echo(str(_in_format(path, fmt).resolve()))


def _in_format(html: Path, fmt: str) -> Path:
    """The report page ``html``, or its ``fmt`` form written beside it."""
    if fmt == "html":
        return html
    from .report.formats import WRITERS

    return run_or_fail(lambda: WRITERS[fmt](html, html.with_suffix(f".{fmt}")))


@click.command("demo", short_help="Build a synthetic demo trial and its report")
@_out_option("demo-output")
@click.option(
    "--study",
    type=click.Choice(("seed", "phase2")),
    default="seed",
    show_default=True,
    help="seed: the first-in-human trial (the paper's tables); phase2: the randomized phase II "
    "trial (blinded and unblinded reports)",
)
def demo_command(out: Path, study: str) -> None:
    """Build a synthetic demo trial (its bundled CRFs -> trial store) and write its report:
    the seed trial's, or the phase II trial's blinded and unblinded ones."""
    start = time.perf_counter()
    if study == "phase2":
        from .demo.phase2 import PHASE2_STEPS, build_phase2_demo

        bar, step = _progress(PHASE2_STEPS)
        with bar:
            path = run_or_fail(lambda: build_phase2_demo(out, step=step))
        sys.stderr.write(
            f"phase II demo built and analysed in {time.perf_counter() - start:.0f} s; store "
            f"{out / 'trial.db'}, blinded report {out / 'blinded' / 'report.html'}\n"
        )
        click.echo(str(path.resolve()))
        return
    from .demo.build import build_demo_store
    from .store.forms import FORMS

    bar, step = _progress(1 + len(FORMS) + _REPORT_STEPS)
    with bar:

        def job() -> Path:
            engine = build_demo_store(out, step=step)
            return _report(
                engine, f"{out / 'trial.db'} (synthetic demo)", out, step, synthetic=True
            )

        path = run_or_fail(job)
    sys.stderr.write(
        f"demo built and analysed in {time.perf_counter() - start:.0f} s; "
        f"store {out / 'trial.db'}, case report forms {out / 'crf'}\n"
    )
    click.echo(str(path.resolve()))
