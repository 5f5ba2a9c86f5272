"""A **synthetic** demo trial whose analysis reproduces the seed paper's Table 3.

No value in this package comes from a real patient. The demo's case report forms are fixed
package data (``xerotrial/data/demo_crf``), made once by the maintainer's seeded calibration
(``tools/demo_calibration``); :mod:`.build` imports them into a fresh store, and
:mod:`.targets` holds the paper's printed numbers with the few that contradict each other.
"""
