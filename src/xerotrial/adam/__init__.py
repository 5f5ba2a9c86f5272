"""Analysis datasets built from a study store by its definition's derivations."""
