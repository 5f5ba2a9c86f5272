"""``xerotrial init | import | template | edit | audit | export``: the trial store's commands.

Thin wrappers over :mod:`xerotrial.store`; every command takes ``--db URL`` (default
``trial.db`` in the current folder). Errors (bad file, unknown form, no store) exit with
status 2 and ``error: ...`` on stderr.

Example
-------
    xerotrial init
    xerotrial template participants -o participants.csv
    xerotrial import sites sites.csv          # sites first: participants refer to them
    xerotrial import participants participants.csv
    xerotrial edit sialometry --key subject=P01 --key visit=day0 --key kind=UWS \\
        --set cup_after_g=12.95 --reason "re-weighed cup"

Writes are recorded under the operating-system account, marked ``local:NAME``, or, in a study
store, under an account with ``--as NAME`` after its password (``--password-file``).
    xerotrial audit verify --checkpoints ~/checkpoints/trial.jsonl
    xerotrial export adam --out analysis --format xpt

Writers (``import``, ``edit``, ``init --protocol``) refuse a store that fails its audit check;
readers (``export``, ``report``) warn in bold on standard error and stamp their output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_common import Group, actor_name, actor_options, fail, run_or_fail, styled, warn

if TYPE_CHECKING:
    from .store.verify import AuditReport

__all__ = ["EXPORT_FORMATS", "STORE_COMMANDS", "audit_group", "audit_warning", "db_option"]

#: ``xerotrial.store.export.FORMATS``, here so that the help lists them without importing the
#: store (a test checks that the two agree).
EXPORT_FORMATS = ("csv", "parquet", "xpt")
#: The formats a study store exports raw data in (``store.study_export.EXPORT_FORMATS``).
STUDY_FORMATS = ("csv", "parquet", "redcap", "xpt")

db_option = click.option(
    "--db",
    help="Store URL (sqlite:///FILE, postgresql+psycopg://...) or an SQLite file; default trial.db",
)
_PATH = click.Path(path_type=Path)


def _complete_form(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of a form name (imports the store's forms, at a TAB only)."""
    from .store.forms import FORMS

    names = [*FORMS, "redcap"] if param.name == "form" and ctx.info_name == "import" else FORMS
    return [n for n in names if n.startswith(incomplete)]


@click.group("audit", cls=Group, short_help="Verify or show the audit trail, keys, checkpoints")
def audit_group() -> None:
    """The audit trail: verify its hash chain, show its entries, make a key, checkpoint it."""


def audit_warning(report: AuditReport) -> None:
    """A reader's loud warning on standard error when the store fails its audit check."""
    from .store.integrity import warning_text

    if not report.ok:
        sys.stderr.write(styled(warning_text(report), "bold red") + "\n")


def _pairs(items: list[str] | tuple[str, ...] | None, option: str) -> dict[str, str]:
    """``COLUMN=VALUE`` options as a dict; a column given twice is an error (which one was
    meant?).

    >>> _pairs(["subject=P01", "visit=day0"], "--key")
    {'subject': 'P01', 'visit': 'day0'}
    """
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            fail(f"{option} {item!r}: write COLUMN=VALUE")
        if name in out:
            fail(
                f"{option} names {name!r} twice ({name}={out[name]} and {name}={value}): "
                "give each column once"
            )
        out[name] = value
    return out


@click.command("init", short_help="Create a store, or migrate it to the newest schema")
@db_option
@click.option("--protocol", type=_PATH, help="Protocol TOML kept in the store (audited)")
@click.option(
    "--study",
    "study",
    type=_PATH,
    metavar="DEF",
    help="A study definition (TOML/YAML): create a store whose forms are its forms",
)
@click.option("--reason", help="Why the protocol changes (needed once the store holds data)")
@click.option("--app-role", help="PostgreSQL: the role the service runs as (granted, not owner)")
def init_command(
    db: str | None,
    protocol: Path | None,
    study: Path | None,
    reason: str | None,
    app_role: str | None,
) -> None:
    """Create a store, or migrate it to the newest schema (idempotent).

    With XEROTRIAL_AUDIT_KEY_FILE set, an unkeyed store is keyed (its audit entries get MACs).
    With --study DEF the store is made for that study definition (an empty database only).
    """
    from sqlalchemy.engine import make_url

    if study is not None:
        if protocol is not None:
            fail("--study and --protocol exclude each other (a definition holds its schedule)")
        if not study.is_file():
            fail(f"{study}: no such file")
        from .study.check import StudyDefinitionError

        def create() -> str:
            from .store.study_store import init_study_store

            return init_study_store(db, study, reason=reason, app_role=app_role)

        try:
            url = run_or_fail(create)
        except StudyDefinitionError as exc:
            fail(str(exc))
        click.echo(f"study store ready: {make_url(url).render_as_string(hide_password=True)}")
        return
    from .store.migrate import init_store

    if protocol is not None and not protocol.is_file():
        fail(f"{protocol}: no such file")
    if reason is not None and protocol is None:
        fail("--reason goes with --protocol (the reason of a protocol change)")
    url = run_or_fail(lambda: init_store(db, protocol, reason=reason, app_role=app_role))
    click.echo(f"store ready: {make_url(url).render_as_string(hide_password=True)}")


@click.command("import", short_help="Validate a case report form file and import it")
@click.argument("form", shell_complete=_complete_form)
@click.argument("file", type=_PATH)
@db_option
@click.option("--reason", help="Why (default: import of FILE)")
@actor_options
@click.option("--dictionary", type=_PATH, help="REDCap data dictionary (CSV), for FORM redcap")
@click.option(
    "--skip-instrument",
    "skip",
    multiple=True,
    metavar="NAME",
    help="REDCap: an instrument that is not a form, left out on purpose (repeatable)",
)
def import_command(
    form: str,
    file: Path,
    db: str | None,
    reason: str | None,
    as_name: str | None,
    password_file: Path | None,
    dictionary: Path | None,
    skip: tuple[str, ...],
) -> None:
    """Validate a case report form FILE (CSV or Excel) and import it, all or nothing.

    FORM is a form name (xerotrial template --list), or 'redcap' for a REDCap export.
    """
    from .store.engine import open_store
    from .store.forms import FORMS
    from .store.importer import import_file

    user = actor_name(db, as_name, password_file)
    engine = run_or_fail(lambda: open_store(db))
    if _is_study_store(engine):
        _import_study(engine, form, file, user, reason, dictionary, skip)
        return
    if form != "redcap" and form not in FORMS:
        fail(f"unknown form {form!r}; forms: {', '.join(FORMS)}, redcap")
    if form == "redcap":
        from .store.redcap import import_redcap

        if dictionary is None:
            fail("a REDCap import needs --dictionary DATA_DICTIONARY.csv")
        results = run_or_fail(
            lambda: import_redcap(engine, file, dictionary, user=user, reason=reason, skip=skip)
        )
    else:
        if skip:
            fail("--skip-instrument is for FORM redcap")
        results = [run_or_fail(lambda: import_file(engine, form, file, user=user, reason=reason))]
    for r in results:
        click.echo(f"{r.form}: {r.inserted} row(s) imported, {r.unchanged} unchanged ({r.source})")


def _is_study_store(engine) -> bool:  # noqa: ANN001 - the Engine is imported by the command
    from .store.layout import STUDY_KIND, store_kind

    with engine.connect() as conn:
        return store_kind(conn) == STUDY_KIND


def _import_study(
    engine,  # noqa: ANN001
    form: str,
    file: Path,
    user: str,
    reason: str | None,
    dictionary: Path | None,
    skip: tuple[str, ...],
) -> None:
    """``import redcap EXPORT.csv`` or ``import FORM FILE`` (``subjects`` first; the files of
    ``export raw --format csv``) into a study store (its definition knows the forms)."""
    from .store.redcap_records import import_redcap_records

    if dictionary is not None or skip:
        fail("a study store reads a file by its own definition: no --dictionary, no --skip")
    if not file.is_file():
        fail(f"{file}: no such file")
    who = user
    if form == "redcap":
        result, notes = run_or_fail(
            lambda: import_redcap_records(engine, file, user=who, reason=reason)
        )
    else:
        from .store.study_csv import import_study_csv

        result = run_or_fail(lambda: import_study_csv(engine, form, file, user=who, reason=reason))
        notes = []
    click.echo(
        f"{file}: {result.inserted} form row(s) imported, {result.unchanged} unchanged, "
        f"{result.subjects} new subject(s)"
    )
    for line in [*notes, *result.warnings]:
        click.echo(f"note: {line}", err=True)


@click.command("template", short_help="Write a form's empty template, or list the forms")
@click.argument("form", required=False, shell_complete=_complete_form)
@click.option("-o", "--output", type=_PATH, help="File to write (default: standard output)")
@click.option("--list", "list_forms", is_flag=True, help="Name and document the forms")
@db_option
def template_command(
    form: str | None, output: Path | None, list_forms: bool, db: str | None
) -> None:
    """Write an empty template (the header) of a form, or list the forms (with --db, a
    study store's: the header its `import FORM FILE` takes)."""
    from .store.forms import FORMS

    if db is not None:
        from .store.engine import open_store
        from .store.study_export import form_header, study_forms_text
        from .store.study_store import stored_study

        engine = run_or_fail(lambda: open_store(db))
        if not _is_study_store(engine):
            fail("--db names a seed store: its forms are those of `xerotrial template --list`")
        with engine.connect() as conn:
            study = run_or_fail(lambda: stored_study(conn))
        if list_forms:
            click.echo(study_forms_text(study))
            return
        if form is None:
            fail("name a form, or use --list")
        header = run_or_fail(lambda: ",".join(form_header(study, form)) + "\n")
    elif list_forms:
        for spec in FORMS.values():
            click.echo(spec.describe())
        return
    elif form is None:
        fail("name a form, or use --list")
    elif form not in FORMS:
        fail(f"unknown form {form!r}; forms: {', '.join(FORMS)}")
    else:
        header = ",".join(FORMS[form].columns) + "\n"
    if output is None:
        sys.stdout.write(header)
        return
    run_or_fail(lambda: output.write_text(header, encoding="utf-8"))
    click.echo(f"wrote {output}")


@click.command("edit", short_help="Correct or delete one stored row, with a reason")
@click.argument("form", shell_complete=_complete_form)
@click.option(
    "--key",
    multiple=True,
    required=True,
    metavar="COLUMN=VALUE",
    help="The row's key (repeat for each key column)",
)
@click.option("--reason", required=True, help="Why the correction is made")
@click.option(
    "--set",
    "set_",
    multiple=True,
    metavar="COLUMN=VALUE",
    help="A value to change (repeatable; empty VALUE clears)",
)
@click.option("--delete", is_flag=True, help="Delete the row")
@db_option
@actor_options
def edit_command(
    form: str,
    key: tuple[str, ...],
    reason: str,
    set_: tuple[str, ...],
    delete: bool,
    db: str | None,
    as_name: str | None,
    password_file: Path | None,
) -> None:
    """Correct (or delete) one stored row, with a reason, under the audit trail."""
    from .store.edit import delete_row, edit_row
    from .store.engine import open_store

    keys = _pairs(key, "--key")
    changes = _pairs(set_, "--set")
    if delete == bool(changes):
        fail("give either --set COLUMN=VALUE ... or --delete")
    user = actor_name(db, as_name, password_file)
    engine = run_or_fail(lambda: open_store(db))
    if _is_study_store(engine):
        from .store.study_edit import delete_study_row, edit_study_row

        who = user
        if delete:
            run_or_fail(lambda: delete_study_row(engine, form, keys, reason=reason, user=who))
            click.echo(f"{form} {keys}: deleted")
            return
        res = run_or_fail(
            lambda: edit_study_row(engine, form, keys, changes, reason=reason, user=who)
        )
    elif delete:
        run_or_fail(lambda: delete_row(engine, form, keys, reason=reason, user=user))
        click.echo(f"{form} {keys}: deleted")
        return
    else:
        res = run_or_fail(lambda: edit_row(engine, form, keys, changes, reason=reason, user=user))
    if not res.changed:
        click.echo(f"{form} {keys}: nothing changed")
    for c, (old, new) in res.changed.items():
        click.echo(f"{form} {keys}: {c} {old!r} -> {new!r}")
    for line in getattr(res, "warnings", ()):
        click.echo(f"note: {line}", err=True)


@audit_group.command("verify")
@db_option
@click.option(
    "--checkpoints",
    metavar="FILE|URL",
    help="Checkpoints kept outside the store (audit checkpoint --to): each must be in the chain",
)
def audit_verify_command(db: str | None, checkpoints: str | None) -> None:
    """Check the audit chain, its MACs, its guards and that the stored rows match it; exit 1
    if tampered with. The key of a keyed store: XEROTRIAL_AUDIT_KEY_FILE."""
    from dataclasses import replace

    from .store.audit import verify
    from .store.checkpoint import check_checkpoints
    from .store.engine import open_store

    engine = run_or_fail(lambda: open_store(db))
    report = run_or_fail(lambda: verify(engine))
    if checkpoints is not None:
        found = run_or_fail(lambda: check_checkpoints(engine, checkpoints))
        report = replace(report, problems=[*report.problems, *found])
    for w in report.warnings:
        warn(w)
    click.echo(f"chain head: {report.head_line()}")
    if report.ok:
        checked = ", checkpoints agree" if checkpoints is not None else ""
        click.echo(f"audit trail intact: {report.entries} entries, data agree{checked}")
        return
    for p in report.problems:
        sys.stderr.write(f"{styled('tampering:', 'bold red')} {p}\n")
    sys.stderr.write(
        f"audit trail NOT intact: {len(report.problems)} problem(s) in {report.entries} entries\n"
    )
    raise SystemExit(1)


@audit_group.command("keygen")
@click.option("--out", type=_PATH, required=True, help="Key file to write (never overwritten)")
def audit_keygen_command(out: Path) -> None:
    """Write a new audit key (32 random bytes, hex, mode 0600) to keep outside the store.

    Set XEROTRIAL_AUDIT_KEY_FILE=FILE for every command, then `xerotrial init` keys the store.
    """
    from .store.audit_key import key_id, write_key

    key = run_or_fail(lambda: write_key(out))
    click.echo(f"wrote audit key {key_id(key)} to {out}: keep it (and a copy) off the store")


@audit_group.command("checkpoint")
@db_option
@click.option("--to", "to", required=True, metavar="FILE|URL", help="Checkpoint file or database")
def audit_checkpoint_command(db: str | None, to: str) -> None:
    """Verify the store, then append its chain head to a file (JSON lines) or a database kept
    where the store's writer cannot change it."""
    from .store.checkpoint import write_checkpoint
    from .store.engine import open_store

    engine = run_or_fail(lambda: open_store(db))
    rec = run_or_fail(lambda: write_checkpoint(engine, to))
    click.echo(f"checkpoint: entry {rec['seq']}, hash {rec['hash'][:16]}, {rec['time']} -> {to}")


@audit_group.command("show")
@db_option
@click.option("--table", help="Only entries of this form (or store_meta: protocol, key id)")
@click.option("--limit", type=click.IntRange(min=1), help="Only the last N entries")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line")
def audit_show_command(db: str | None, table: str | None, limit: int | None, as_json: bool) -> None:
    """List the audit trail, oldest first."""
    from .store.audit import show
    from .store.engine import open_store
    from .store.layout import store_layout
    from .store.schema import META

    engine = run_or_fail(lambda: open_store(db))
    if table is not None:

        def names() -> list[str]:
            with engine.connect() as conn:
                return [*store_layout(conn), META.name]

        known = run_or_fail(names)
        if table not in known:
            fail(f"--table {table!r}: not a form; forms: {', '.join(known)}")
    frame = run_or_fail(lambda: show(engine, table=table, limit=limit))
    for rec in frame.to_dict("records"):
        if as_json:
            click.echo(json.dumps(rec, ensure_ascii=False))
            continue
        click.echo(
            f"#{rec['seq']} {rec['ts']} {rec['user_name']} {rec['action']} "
            f"{rec['table_name']} {rec['row_key']} reason={rec['reason']!r} "
            f"source={rec['source']}"
        )
        if rec["old_values"] is not None:
            click.echo(f"    old: {rec['old_values']}")
        if rec["new_values"] is not None:
            click.echo(f"    new: {rec['new_values']}")


@click.command("export", short_help="Export the raw forms, SDTM, ADaM with define.xml, ODM")
@click.argument("what", type=click.Choice(["raw", "sdtm", "adam", "odm"]))
@click.option(
    "--out",
    type=_PATH,
    required=True,
    help="Output folder (raw, adam) or file (odm)",
)
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted({*EXPORT_FORMATS, *STUDY_FORMATS})),
    default=None,
    help="File format: raw csv (default), parquet, xpt or redcap (a REDCap records export, "
    "study stores); sdtm and adam xpt (default) or csv",
)
def export_command(what: str, out: Path, db: str | None, fmt: str | None) -> None:
    """Export the raw forms (WHAT raw), the SDTM datasets (WHAT sdtm) or the ADaM datasets
    (WHAT adam), each with define.xml, or the clinical data as CDISC ODM 1.3.2 XML (WHAT
    odm, study stores)."""
    from .store.engine import open_store
    from .store.export import export_raw
    from .store.integrity import STATUS_FILE, check_store

    if what != "odm" and out.exists() and not out.is_dir():
        fail(f"--out: '{out}' is a file; give a folder")
    if what == "odm" and out.is_dir():
        fail(f"--out: '{out}' is a folder; give the XML file to write")
    engine = run_or_fail(lambda: open_store(db))
    report = run_or_fail(lambda: check_store(engine))
    audit_warning(report)
    if what in ("sdtm", "adam"):
        _export_submission(engine, what, out, fmt or "xpt", report)
        return
    fmt = fmt or "csv"
    if _is_study_store(engine):
        _export_study(engine, what, out, fmt, report)
        return
    if what == "odm" or fmt == "redcap":
        fail(f"export {what} --format {fmt} is for study stores (init --study DEF)")
    paths = run_or_fail(lambda: export_raw(engine, out, fmt, audit=report))
    status = "verified" if report.ok else "NOT VERIFIED"
    click.echo(f"wrote {len(paths)} file(s) to {out} (audit: {status}, see {STATUS_FILE})")


def _export_submission(engine, what: str, out: Path, fmt: str, report: AuditReport) -> None:  # noqa: ANN001
    from .store.integrity import STATUS_FILE
    from .submission.datasets import DATASET_FORMATS
    from .submission.export import export_submission

    if fmt not in DATASET_FORMATS:
        fail(f"export {what} writes {' or '.join(DATASET_FORMATS)}, not {fmt}")
    paths = run_or_fail(lambda: export_submission(engine, what, out, fmt))
    status = "verified" if report.ok else "NOT VERIFIED"
    data = [p.name for p in paths if p.suffix == f".{fmt}"]
    click.echo(
        f"wrote {len(data)} {what.upper()} dataset(s) ({', '.join(data)}), define.xml, "
        f"define.html and NOTES.txt to {out} (audit: {status}, see {STATUS_FILE})"
    )
    notes = (out / "NOTES.txt").read_text(encoding="utf-8").splitlines()
    for line in notes:
        click.echo(f"  note: {line}")


def _export_study(engine, what: str, out: Path, fmt: str, report: AuditReport) -> None:  # noqa: ANN001
    from .store.integrity import STATUS_FILE

    status = "verified" if report.ok else "NOT VERIFIED"
    if what == "odm":
        from .store.study_export import odm_export

        run_or_fail(lambda: odm_export(engine, out))
        click.echo(f"wrote {out} (audit: {status})")
        return
    if fmt not in STUDY_FORMATS:
        fail(f"a study store exports raw data as {' or '.join(STUDY_FORMATS)}, not {fmt}")
    from .store.study_export import export_study

    paths = run_or_fail(lambda: export_study(engine, out, fmt=fmt))
    click.echo(f"wrote {len(paths)} file(s) to {out} (audit: {status}, see {STATUS_FILE})")


#: The store's commands, in the order ``xerotrial --help`` lists them.
STORE_COMMANDS = (
    init_command,
    import_command,
    template_command,
    edit_command,
    audit_group,
    export_command,
)
