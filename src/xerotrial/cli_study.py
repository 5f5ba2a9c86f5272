"""``xerotrial study``: check a study definition and compare two versions of one.

    xerotrial study check DEF          exit 0 and one summary line, or 2 and every problem
    xerotrial study diff OLD NEW       one line per change (+ added, - removed, ~ changed)
    xerotrial study export DEF --format redcap -o OUT.csv
                                       a REDCap data dictionary (18 columns); what it cannot
                                       hold is listed on standard error, never dropped silently
                                       (--events MAPPING.csv: the instrument-event mapping)
    xerotrial study export DEF --format odm -o OUT.xml
                                       a CDISC ODM 1.3.2 metadata document; the same listing
    xerotrial study from-redcap DICTIONARY.csv [--events MAPPING.csv] [--repeating FORM ...] -o DEF
                                       a definition of a REDCap project; what cannot be
                                       translated or is assumed is listed on standard error

``DEF`` is a TOML (``.toml``) or YAML (``.yaml``, ``.yml``) file (:mod:`xerotrial.study`).
A problem is printed to standard error as ``FILE: line L: key.path: rule``, every one of them,
and the exit status is 2. The modules are imported inside the commands, so that
``xerotrial --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_common import Group, actor_options, fail, fail_error
from .errors import XerotrialError

__all__ = ["study_group"]

_DEF = click.Path(path_type=Path)


@click.group("study", cls=Group, short_help="Check and compare study definitions")
def study_group() -> None:
    """Study definitions (TOML or YAML): check one, compare two versions."""


def _load(path: Path):  # noqa: ANN202 - the type is imported only when the command runs
    from .study import load_study
    from .study.check import StudyDefinitionError

    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        return load_study(path)
    except StudyDefinitionError as exc:
        fail(str(exc))  # every problem as FILE: line L: key.path: rule
    except XerotrialError as exc:
        fail_error(exc)


@study_group.command("check")
@click.argument("definition", metavar="DEF", type=_DEF)
def check_command(definition: Path) -> None:
    """Check DEF: print its forms, fields and visits, or every problem (exit 2)."""
    study = _load(definition)
    click.echo(f"{definition}: ok, {study.summary()}")


@study_group.command("diff")
@click.argument("old", metavar="OLD", type=_DEF)
@click.argument("new", metavar="NEW", type=_DEF)
def diff_command(old: Path, new: Path) -> None:
    """The changes from OLD to NEW: visits, schedule, forms, fields and their attributes."""
    from .study.diff import diff_studies

    lines = diff_studies(_load(old), _load(new))
    click.echo("\n".join(lines) if lines else "no changes")


@study_group.command("export")
@click.argument("definition", metavar="DEF", type=_DEF)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["redcap", "odm"]),
    default="redcap",
    show_default=True,
    help="redcap: a REDCap data dictionary (CSV, the 18 standard columns); "
    "odm: CDISC ODM 1.3.2 metadata (XML)",
)
@click.option("-o", "--output", metavar="OUT.csv", type=_DEF, required=True, help="Write here")
@click.option(
    "--events",
    metavar="OUT",
    type=_DEF,
    default=None,
    help="Also write REDCap's instrument-event mapping (the visits and schedule) here",
)
def export_command(definition: Path, fmt: str, output: Path, events: Path | None) -> None:
    """Export DEF as a REDCap data dictionary or ODM 1.3.2 metadata; list what the format
    cannot hold."""
    from .study.redcap import to_redcap, untranslated, write_dictionary

    study = _load(definition)
    if fmt == "odm":
        if events is not None:
            fail("--events goes with --format redcap (the instrument-event mapping)")
        _export_odm(study, output)
        return
    text = write_dictionary(to_redcap(study))
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot write it ({exc.strerror or exc})")
    if events is not None:
        from .study.redcap import to_event_mapping, write_event_mapping

        mapping = to_event_mapping(study)
        try:
            events.write_text(write_event_mapping(mapping), encoding="utf-8")
        except OSError as exc:
            fail(f"{events}: cannot write it ({exc.strerror or exc})")
        click.echo(f"{events}: {len(mapping)} instrument-event rows")
    left = untranslated(study)
    n = sum(len(f.fields) for f in study.forms)
    click.echo(f"{output}: {n} fields of {len(study.forms)} forms")
    if left:
        click.echo(f"not in a REDCap data dictionary ({len(left)}):", err=True)
        for line in left:
            click.echo(f"  {line}", err=True)


def _export_odm(study, output: Path) -> None:  # noqa: ANN001 - imported only when run
    from .study.odm import metadata_xml, untranslated

    try:
        output.write_bytes(metadata_xml(study))
    except OSError as exc:
        fail(f"{output}: cannot write it ({exc.strerror or exc})")
    left = untranslated(study)
    n = sum(len(f.fields) for f in study.forms)
    click.echo(f"{output}: ODM 1.3.2 metadata, {n} fields of {len(study.forms)} forms")
    if left:
        click.echo(f"not in ODM 1.3.2 ({len(left)}):", err=True)
        for line in left:
            click.echo(f"  {line}", err=True)


def _read(path: Path) -> str:
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read it ({exc})")


@study_group.command("from-redcap")
@click.argument("dictionary", metavar="DICTIONARY.csv", type=_DEF)
@click.argument("more_repeating", metavar="[FORM ...]", nargs=-1)
@click.option(
    "--events",
    metavar="INSTRUMENT_EVENT_MAPPING.csv",
    type=_DEF,
    default=None,
    help="The instrument-event mapping (arm_num,unique_event_name,form) of a longitudinal project",
)
@click.option(
    "--repeating",
    metavar="FORM",
    multiple=True,
    help="The repeating instruments (a project setting, not in the dictionary): --repeating "
    "ae cm, --repeating ae --repeating cm or --repeating ae,cm",
)
@click.option("--id", "study_id", default="", help="The study's identifier (default: the DEF name)")
@click.option("--title", default="", help="The study's title")
@click.option("-o", "--output", metavar="DEF", type=_DEF, required=True, help="Write here (.toml)")
def from_redcap_command(
    dictionary: Path,
    more_repeating: tuple[str, ...],
    events: Path | None,
    repeating: tuple[str, ...],
    study_id: str,
    title: str,
    output: Path,
) -> None:
    """A study definition (TOML) of a REDCap data dictionary and instrument-event mapping.

    Every problem of the input is printed as FILE: row R: column C: rule (exit 2, nothing
    written); what the definition cannot hold or had to assume is listed on standard error.
    """
    from .study.from_redcap import RedcapInputError, from_redcap
    from .study.toml_write import to_toml

    if more_repeating and not repeating:
        fail(f"unexpected argument {more_repeating[0]!r} (name repeating forms with --repeating)")
    # --repeating FORM ...: the forms after the first are the command's further arguments
    repeating = tuple(
        f.strip() for r in (*repeating, *more_repeating) for f in r.split(",") if f.strip()
    )
    text = _read(dictionary)
    mapping = _read(events) if events is not None else None
    try:
        t = from_redcap(
            text,
            str(dictionary),
            mapping,
            str(events) if events is not None else "",
            repeating,
            study_id or output.stem,
            title,
        )
    except RedcapInputError as exc:
        fail(str(exc))
    try:
        output.write_text(to_toml(t.study), encoding="utf-8")
    except OSError as exc:
        fail(f"{output}: cannot write it ({exc.strerror or exc})")
    click.echo(f"{output}: {t.study.summary()}")
    if t.notes:
        click.echo(f"not translated or assumed ({len(t.notes)}):", err=True)
        for line in t.notes:
            click.echo(f"  {line}", err=True)


@study_group.command("amend")
@click.option("--db", help="The study store's URL or SQLite file (default trial.db)")
@click.argument("definition", metavar="NEW_DEF", type=_DEF)
@click.option("--reason", required=True, help="Why the definition changes (the amendment)")
@actor_options
def amend_command(
    db: str | None,
    definition: Path,
    reason: str,
    as_name: str | None,
    password_file: Path | None,
) -> None:
    """Apply NEW_DEF, a new version of the store's definition: show and audit the diff, or
    list every captured value it would invalidate (exit 2, nothing changed)."""
    from .cli_common import actor_name, run_or_fail
    from .store.engine import open_store
    from .store.study_amend import amend_store

    _load(definition)  # every problem of the new definition, located
    user = actor_name(db, as_name, password_file)
    if as_name is not None:
        from .cli_web import require_admin

        require_admin(db, as_name)  # definitions are an administrator's
    engine = run_or_fail(lambda: open_store(db))
    result = run_or_fail(lambda: amend_store(engine, definition, reason=reason, user=user))
    click.echo(f"amended: version {result.old_version} -> {result.new_version}")
    for line in result.diff:
        click.echo(f"  {line}")
    for sql in result.ddl:
        click.echo(f"  sql: {sql}")
