"""write_report: the folder's files, their columns, and the HTML's content and links."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from xerotrial.report import TABLE3_COLUMNS, ReportData, render_html, write_report
from xerotrial.report.fmt import MINUS

from .sample import make_data

EXPECTED = [
    "report.html",
    "tables/table1.csv",
    "tables/table2.csv",
    "tables/table3.csv",
    "tables/table4.csv",
    "tables/sensitivity_wilcoxon.csv",
    "tables/deviations.csv",
    "figures/figure2.png",
    "figures/figure2.svg",
    "figures/consort.png",
    "figures/consort.svg",
    "data/adeff.csv",
    "data/adsl.csv",
    "data/adae.csv",
]


class _Links(HTMLParser):
    """Collects ids and every src / href attribute, and the tags used."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name == "id":
                self.ids.add(value)
            if name in ("src", "href", "srcset", "action", "poster", "data"):
                self.urls.append((tag, name, value or ""))


@pytest.fixture(scope="module")
def links(report_html: str) -> _Links:
    p = _Links()
    p.feed(report_html)
    return p


def test_files_written_and_foreign_files_kept(report_dir: Path):
    for rel in EXPECTED:
        assert (report_dir / rel).is_file(), rel
        assert (report_dir / rel).stat().st_size > 0, rel
    assert (report_dir / "trial.db").read_bytes() == b"not touched"
    assert (report_dir / "figures/figure2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table3_csv_exact_columns_and_unrounded(report_dir: Path, report_data: ReportData):
    t3 = pd.read_csv(report_dir / "tables/table3.csv")
    assert tuple(t3.columns) == TABLE3_COLUMNS
    pd.testing.assert_frame_equal(t3, report_data.table3, check_exact=True, check_dtype=False)
    text = (report_dir / "tables/table3.csv").read_text()
    assert "0.131249" in text and "0.0281234" in text and "0.00051234" in text


def test_other_csvs_round_trip(report_dir: Path, report_data: ReportData):
    for name, df in report_data.datasets.items():
        back = pd.read_csv(report_dir / f"data/{name}.csv", keep_default_na=False, na_values=[""])
        assert list(back.columns) == list(df.columns)
        assert len(back) == len(df)
    adeff = pd.read_csv(report_dir / "data/adeff.csv")
    assert (adeff["AVAL"].to_numpy() == report_data.datasets["adeff"]["AVAL"].to_numpy()).all()
    t1 = pd.read_csv(report_dir / "tables/table1.csv")
    assert list(t1.columns) == list(report_data.table1.columns)
    t4 = pd.read_csv(report_dir / "tables/table4.csv")
    assert list(t4.columns) == list(report_data.table4.columns)
    sens = pd.read_csv(report_dir / "tables/sensitivity_wilcoxon.csv")
    assert sens["median_change"].iloc[0] == 0.0512345


def test_html_has_every_table_figure_and_section(report_html: str, links: _Links):
    for id_ in (
        "table1",
        "table2",
        "table3",
        "table4",
        "figure2",
        "consort",
        "sensitivity_wilcoxon",
        "deviations",
        "data-adeff",
        "data-adsl",
        "data-adae",
    ):
        assert id_ in links.ids, id_
    assert "Synthetic demo data — not real patients" in report_html
    assert "postgresql+psycopg://xero:***@localhost/trial" in report_html
    assert "2024-05-01 12:00 UTC" in report_html
    for title in (
        "Table 1.",
        "Table 2.",
        "Table 3.",
        "Table 4.",
        "Figure 2.",
        "CONSORT flow diagram",
        "Sensitivity: Wilcoxon signed-rank test",
        "Protocol deviations",
        "Analysis datasets",
    ):
        assert title in report_html, title
    # TOC links every section
    for id_ in ("sec-table1", "sec-table3", "sec-sensitivity_wilcoxon", "sec-datasets"):
        assert f'href="#{id_}"' in report_html


def test_table3_is_printed_like_the_paper(report_html: str):
    """The paper's rounding of the estimates; p-values as a study report prints them."""
    row = _row(report_html, "table3-uws_ml_min")
    for text in (
        "UWS FR, mL/minute",
        "0.13 ± 0.02",
        "0.18 ± 0.02",
        ">0.06<",
        "0.03 to 0.09",
        "&lt;.001",
    ):
        assert text in row, text
    xq = _row(report_html, "table3-xq_score")
    for text in (
        "53.5 ± 6.7",
        "30.9 ± 6.7",
        f"{MINUS}22.6",
        f"{MINUS}33.57 to {MINUS}11.68",
        "&lt;.001",
    ):
        assert text in xq, text
    pct = _row(report_html, "table3-uws_pct")  # no decimals given: 3 significant digits
    assert "0 ± 12.4" in pct and "50.2 ± 12.4" in pct and "&lt;.001" in pct
    # the group heading, and its row indented under it
    assert "EORTC QLQ-H&amp;N35 (scores 0-100)" in report_html
    assert 'id="table3-hndr" class="indent"' in report_html


def test_tables_1_2_4_and_sections_formatting(report_html: str):
    t2 = _table(report_html, "table2")
    assert re.search(r'<tr class="lvl-1"><td class="label">SAEs, study related</td>', t2)
    assert ">1 (33.3)<" in t2 and ">3 (100.0)<" in t2 and ">0<" in t2  # n (%)
    assert '<th class="num">n (%)</th>' in t2
    t1 = _table(report_html, "table1")
    assert ">.830<" in t1 and "&lt;.001" in t1 and ">Demographics<" in t1
    t4 = _table(report_html, "table4")
    assert "MFI day 30" in t4 and ">1811<" in t4 and ">2200<" in t4
    sens = _table(report_html, "sensitivity_wilcoxon")
    assert ">0.05<" in sens and f">{MINUS}21.00<" in sens and ">.031<" in sens


def test_lineage_links(report_html: str, links: _Links):
    hrefs = [v for _, n, v in links.urls if n == "href"]
    for name in ("adeff", "adsl", "adae"):
        assert f"data/{name}.csv" in hrefs
    # every Table 3 row links to the CSV and to its embedded rows
    for outcome, anchor in (
        ("uws_ml_min", "data-adeff-uws_ml_min"),
        ("xq_score", "data-adeff-xq_score"),
        ("hndr", "data-adeff-hndr"),
        ("uws_pct", "data-adeff"),
    ):
        row = _row(report_html, f"table3-{outcome}")
        assert f'href="#{anchor}"' in row, outcome
        assert 'href="data/adeff.csv"' in row, outcome
    for code in ("uws_ml_min", "sws_ml_min", "xq_score", "hndr"):
        assert f'<details class="param" id="data-adeff-{code}">' in report_html
    assert '<details class="dataset" id="data-adeff">' in report_html
    # lineage descriptions (escaped)
    assert "PARAMCD = &#39;uws_ml_min&#39;, AVISIT in day0..day120" in report_html
    assert "all enrolled patients" in report_html
    # the Section without a lineage entry still links through Section.dataset
    sens = report_html.split('id="sec-sensitivity_wilcoxon"')[1].split("</section>")[0]
    assert 'href="#data-adeff"' in sens and 'href="data/adeff.csv"' in sens


def test_self_contained_and_every_link_resolves(report_dir: Path, links: _Links):
    assert {"script", "link", "img"} >= (links.tags & {"script", "link", "img", "iframe"})
    for tag, attr, url in links.urls:
        assert not re.match(r"^\s*(https?:)?//", url, re.I), (tag, attr, url)
        if url.startswith("#"):
            assert url[1:] in links.ids, url
        elif url.startswith("data:"):
            assert tag in ("img", "link"), (tag, url[:40])
        else:
            assert not re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I), url  # no other scheme
            assert (report_dir / url).is_file(), url
    text = (report_dir / "report.html").read_text()
    assert "http://" not in text.replace("http://www.w3.org/", "")
    assert "https://" not in text
    assert "<script src" not in text and "@import" not in text and "url(" not in text
    imgs = [u for t, n, u in links.urls if t == "img"]
    assert len(imgs) == 2 and all(u.startswith("data:image/svg+xml;base64,") for u in imgs)


def test_everything_is_escaped(report_html: str):
    assert "Trial report &lt;test&gt; &amp; co" in report_html
    assert "<test>" not in report_html


def test_not_synthetic_has_no_banner(report_data: ReportData):
    real = dataclasses.replace(report_data, synthetic=False)
    page = render_html(
        real,
        figure2_svg="<svg xmlns='http://www.w3.org/2000/svg'/>",
        consort_svg="<svg xmlns='http://www.w3.org/2000/svg'/>",
    )
    assert "Synthetic demo data" not in page and 'class="banner"' not in page


def test_rerun_is_identical_and_progress_goes_to_stderr(
    report_dir: Path, tmp_path: Path, report_data: ReportData, capsys
):
    out = write_report(report_data, tmp_path, progress=True)
    assert out == tmp_path / "report.html"
    captured = capsys.readouterr()
    assert "5/5" in captured.err and captured.out == ""
    for rel in EXPECTED:
        if rel.endswith(".png"):
            continue
        assert (tmp_path / rel).read_bytes() == (report_dir / rel).read_bytes(), rel


def test_validation_errors():
    good = make_data()
    with pytest.raises(ValueError, match="table3: columns must be exactly"):
        dataclasses.replace(good, table3=good.table3[list(reversed(good.table3.columns))])
    with pytest.raises(ValueError, match=r"table2: missing columns \['Proportion'\]"):
        dataclasses.replace(good, table2=good.table2.drop(columns="Proportion"))
    with pytest.raises(ValueError, match="duplicate or reserved"):
        dataclasses.replace(good, sections=good.sections + good.sections[:1])
    with pytest.raises(ValueError, match="dataset names must match"):
        dataclasses.replace(good, datasets={"../evil": good.table1})


def test_embedded_rows_are_capped(report_data: ReportData):
    page = render_html(report_data, figure2_svg="<svg/>", consort_svg="<svg/>", max_rows=5)
    assert "first 5 rows shown" in page


def _table(page: str, id_: str) -> str:
    start = page.index(f'<table id="{id_}"')
    return page[start : page.index("</table>", start)]


def _row(page: str, id_: str) -> str:
    start = page.index(f'<tr id="{id_}"')
    return page[start : page.index("</tr>", start)]


def test_a_report_part_way_lists_what_cannot_run_yet(report_data: ReportData, tmp_path: Path):
    not_run = pd.DataFrame(
        {
            "analysis": ["Table 3", "Responders <4 months>"],
            "reason": ["no day120 (4 months) data yet"] * 2,
            "outcomes": ["UWS FR; SWS FR", ""],
        }
    )
    part = dataclasses.replace(
        report_data,
        data_cutoff="2020-02-07",
        not_run=not_run,
        table3_follow_up="120 days follow-up",
    )
    write_report(part, tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'Data cut-off: <strong id="data-cutoff">2020-02-07</strong>' in page
    assert page.index('id="sec-not_run"') < page.index('id="sec-table1"')  # shown first
    assert 'href="#sec-not_run"' in page and "Responders &lt;4 months&gt;" in page
    assert "The store holds data up to 2020-02-07" in page
    assert '<th class="num">120 days follow-up</th>' in _page_head(page, "table3")
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "tables" / "not_run.csv", keep_default_na=False), not_run
    )
    with pytest.raises(ValueError, match=r"not_run: missing columns \['outcomes'\]"):
        dataclasses.replace(part, not_run=not_run.drop(columns="outcomes"))


def test_complete_report_says_nothing_about_not_run(report_html: str, report_dir: Path):
    assert 'id="sec-not_run"' not in report_html and "Data cut-off" not in report_html
    assert not (report_dir / "tables" / "not_run.csv").exists()  # not given
    assert '<th class="num">Follow-up</th>' in _page_head(report_html, "table3")
    empty = dataclasses.replace(
        make_data(), not_run=pd.DataFrame(columns=["analysis", "reason", "outcomes"])
    )
    page = render_html(empty, figure2_svg="<svg/>", consort_svg="<svg/>")
    assert 'id="sec-not_run"' not in page


def _page_head(page: str, id_: str) -> str:
    start = page.index(f'<table id="{id_}"')
    return page[start : page.index("</thead>", start)]
