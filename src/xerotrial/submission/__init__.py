"""Submission datasets: SDTM and ADaM from a store and its definition, with define.xml.

:mod:`.datasets` holds a dataset with its metadata (the one source of the XPT labels and of
define.xml), :mod:`.sdtm` and :mod:`.adam` build them, :mod:`.conformance` checks the
implementation guides' naming rules and required variables, :mod:`.define` writes
define.xml 2.1 and its HTML rendering, :mod:`.export` writes a folder.
"""
