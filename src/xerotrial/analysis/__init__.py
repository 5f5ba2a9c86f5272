"""Trial-level analyses of a trial store: summaries, efficacy and the report build."""
