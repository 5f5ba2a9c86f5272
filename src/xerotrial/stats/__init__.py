"""Domain-free statistics: REML mixed models, LS means, df methods, nonparametric tests."""
