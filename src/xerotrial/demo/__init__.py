"""A **synthetic** demo trial calibrated to reproduce the seed paper's Table 3.

No value in this package comes from a real patient. :mod:`.calibrate` searches, from a seed,
for raw case-report-form values (cup weights, questionnaire answers, scintigraphy per gland,
saliva ions) whose analysis by xerotrial's own engine prints the paper's numbers;
the flow rates are constructed in closed form by :mod:`.flow`;
:mod:`.generate` turns them into CRF-like tables and :mod:`.analysis` recomputes Table 3
from those tables through the trial derivations and :func:`xerotrial.stats.model.fit`.
"""
