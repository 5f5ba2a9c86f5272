"""The trial's protocol and its derivations: small pure functions on DataFrames.

Each derivation takes recorded raw values (cup weights, item answers, MFI values, ...) and
returns derived values; none of them knows about SQL or REML.
"""
