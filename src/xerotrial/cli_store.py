"""``xerotrial init | import | template | edit | audit | export``: the trial store's commands.

Thin wrappers over :mod:`xerotrial.store`; every command takes ``--db URL`` (default
``trial.db`` in the current folder). Errors (bad file, unknown form, no store) exit with
status 2 and ``error: ...`` on stderr.

Example
-------
    xerotrial init
    xerotrial template participants -o participants.csv
    xerotrial import sites sites.csv --user ana          # sites first: participants refer to them
    xerotrial import participants participants.csv --user ana
    xerotrial edit sialometry --key subject=P01 --key visit=day0 --key kind=UWS \\
        --set cup_after_g=12.95 --reason "re-weighed cup" --user ana
    xerotrial audit verify
    xerotrial export adam --out analysis --format xpt
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .cli_common import err, fail, run_or_fail

__all__ = ["audit_app", "store_app"]

store_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="The trial store: init, import, template, edit, audit, export.")
audit_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="The audit trail: verify its hash chain, show its entries.")
store_app.add_typer(audit_app, name="audit")

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Store URL (sqlite:///FILE, postgresql+psycopg://...) or an "
                              "SQLite file; default trial.db"),
]


def _pairs(items: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(f"{option} {item!r}: write COLUMN=VALUE")
        out[name.strip()] = value
    return out


@store_app.command("init")
def init_command(
    db: DbOption = None,
    protocol: Annotated[Path | None, typer.Option(help="Protocol TOML kept in the store")] = None,
) -> None:
    """Create a store, or migrate it to the newest schema (idempotent)."""
    from .store.migrate import init_store

    if protocol is not None and not protocol.is_file():
        fail(f"{protocol}: no such file")
    from sqlalchemy.engine import make_url

    url = run_or_fail(lambda: init_store(db, protocol))
    typer.echo(f"store ready: {make_url(url).render_as_string(hide_password=True)}")


@store_app.command("import")
def import_command(
    form: Annotated[str, typer.Argument(help="Form name (xerotrial template --list), or "
                                             "'redcap' for a REDCap export")],
    file: Annotated[Path, typer.Argument(help="CSV or Excel (.xlsx) file")],
    db: DbOption = None,
    reason: Annotated[str | None, typer.Option(help="Why (default: import of FILE)")] = None,
    user: Annotated[str | None, typer.Option(help="Who (default: the login name)")] = None,
    dictionary: Annotated[Path | None, typer.Option(
        help="REDCap data dictionary (CSV), for FORM redcap")] = None,
) -> None:
    """Validate a case report form file and import it, all or nothing."""
    from .store.engine import open_store
    from .store.forms import FORMS
    from .store.importer import import_file

    if form != "redcap" and form not in FORMS:
        fail(f"unknown form {form!r}; forms: {', '.join(FORMS)}, redcap")
    if form == "redcap":
        from .store.redcap import import_redcap

        if dictionary is None:
            fail("a REDCap import needs --dictionary DATA_DICTIONARY.csv")
        engine = run_or_fail(lambda: open_store(db))
        results = run_or_fail(lambda: import_redcap(engine, file, dictionary, user=user,
                                             reason=reason))
    else:
        engine = run_or_fail(lambda: open_store(db))
        results = [run_or_fail(lambda: import_file(engine, form, file, user=user, reason=reason))]
    for r in results:
        typer.echo(f"{r.form}: {r.inserted} row(s) imported, {r.unchanged} unchanged "
                   f"({r.source})")


@store_app.command("template")
def template_command(
    form: Annotated[str | None, typer.Argument(help="Form name")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write "
                                                "(default: standard output)")] = None,
    list_forms: Annotated[bool, typer.Option("--list", help="Name and document the forms")] = (
        False
    ),
) -> None:
    """Write an empty template (the header) of a form, or list the forms."""
    from .store.forms import FORMS

    if list_forms:
        for spec in FORMS.values():
            typer.echo(spec.describe())
        return
    if form is None:
        fail("name a form, or use --list")
    if form not in FORMS:
        fail(f"unknown form {form!r}; forms: {', '.join(FORMS)}")
    header = ",".join(FORMS[form].columns) + "\n"
    if output is None:
        sys.stdout.write(header)
        return
    run_or_fail(lambda: output.write_text(header, encoding="utf-8"))
    typer.echo(f"wrote {output}")


@store_app.command("edit")
def edit_command(
    form: Annotated[str, typer.Argument(help="Form name")],
    key: Annotated[list[str], typer.Option("--key", help="COLUMN=VALUE of the row's key "
                                                         "(repeat for each key column)")],
    reason: Annotated[str, typer.Option(help="Why the correction is made (required)")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="COLUMN=VALUE to change "
                                                   "(repeatable; empty VALUE clears)")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the row")] = False,
    db: DbOption = None,
    user: Annotated[str | None, typer.Option(help="Who (default: the login name)")] = None,
) -> None:
    """Correct (or delete) one stored row, with a reason, under the audit trail."""
    from .store.edit import delete_row, edit_row
    from .store.engine import open_store

    keys = _pairs(key, "--key")
    changes = _pairs(set_, "--set")
    if delete == bool(changes):
        fail("give either --set COLUMN=VALUE ... or --delete")
    engine = run_or_fail(lambda: open_store(db))
    if delete:
        run_or_fail(lambda: delete_row(engine, form, keys, reason=reason, user=user))
        typer.echo(f"{form} {keys}: deleted")
        return
    res = run_or_fail(lambda: edit_row(engine, form, keys, changes, reason=reason, user=user))
    if not res.changed:
        typer.echo(f"{form} {keys}: nothing changed")
    for c, (old, new) in res.changed.items():
        typer.echo(f"{form} {keys}: {c} {old!r} -> {new!r}")


@audit_app.command("verify")
def audit_verify_command(db: DbOption = None) -> None:
    """Check the audit chain and that the stored rows match it; exit 1 if tampered with."""
    from .store.audit import verify
    from .store.engine import open_store

    engine = run_or_fail(lambda: open_store(db))
    report = run_or_fail(lambda: verify(engine))
    if report.ok:
        typer.echo(f"audit trail intact: {report.entries} entries, data agree")
        return
    for p in report.problems:
        err.print(f"[bold red]tampering:[/] {escape(p)}", markup=True)
    err.print(f"audit trail NOT intact: {len(report.problems)} problem(s) in "
               f"{report.entries} entries")
    raise typer.Exit(code=1)


@audit_app.command("show")
def audit_show_command(
    db: DbOption = None,
    table: Annotated[str | None, typer.Option(help="Only entries of this form")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the last N entries")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """List the audit trail, oldest first."""
    from .store.audit import show
    from .store.engine import open_store

    engine = run_or_fail(lambda: open_store(db))
    frame = run_or_fail(lambda: show(engine, table=table, limit=limit))
    for rec in frame.to_dict("records"):
        if as_json:
            typer.echo(json.dumps(rec, ensure_ascii=False))
            continue
        typer.echo(f"#{rec['seq']} {rec['ts']} {rec['user_name']} {rec['action']} "
                   f"{rec['table_name']} {rec['row_key']} reason={rec['reason']!r} "
                   f"source={rec['source']}")
        if rec["old_values"] is not None:
            typer.echo(f"    old: {rec['old_values']}")
        if rec["new_values"] is not None:
            typer.echo(f"    new: {rec['new_values']}")


@store_app.command("export")
def export_command(
    what: Annotated[str, typer.Argument(help="raw (the forms) or adam (analysis datasets)")],
    out: Annotated[Path, typer.Option("--out", help="Output folder")],
    db: DbOption = None,
    fmt: Annotated[str, typer.Option("--format", help="csv, parquet or xpt")] = "csv",
) -> None:
    """Export the raw forms or the analysis datasets."""
    from .store.engine import open_store
    from .store.export import FORMATS, export_adam, export_raw

    if what not in ("raw", "adam"):
        fail(f"export {what!r}: use raw or adam")
    if fmt not in FORMATS:
        fail(f"--format {fmt!r} is not one of: {', '.join(FORMATS)}")
    engine = run_or_fail(lambda: open_store(db))
    fn = export_raw if what == "raw" else export_adam
    paths = run_or_fail(lambda: fn(engine, out, fmt))
    typer.echo(f"wrote {len(paths)} file(s) to {out}")
