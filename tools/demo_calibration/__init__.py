"""Maintainer's tool: the seeded calibration of the **synthetic** demo trial's case report forms.

No value here comes from a real patient. :mod:`.calibrate`, :mod:`.flow`, :mod:`.ions`,
:mod:`.questionnaires` and :mod:`.scintigraphy` search, from a seed, for raw case-report-form
values (cup weights, questionnaire answers, scintigraphy per gland, saliva ions) whose analysis
by xerotrial's own engine prints the seed paper's numbers; :mod:`.generate` turns them into the
store's forms. The result is committed as package data (``src/xerotrial/data/demo_crf``), so
``xerotrial demo`` reads fixed files and gives the same bytes on every machine; rerun this tool
only to change the demo data::

    PYTHONPATH=tools python -m demo_calibration            # rewrites src/xerotrial/data/demo_crf
    PYTHONPATH=tools python -m demo_calibration --out DIR  # or writes elsewhere

The search rounds least-squares results onto the data grid, so its output can differ in a last
digit between BLAS builds or thread counts; what it guarantees, and its tests check, is that the
forms it writes reproduce Table 3.
"""
