"""Randomization: the allocation design of a study definition, concealed lists of permuted
blocks, and the random stream they are drawn from (issue 14)."""
