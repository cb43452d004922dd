"""The hyperparameter search: the Bayesian search, its trials, its budget, and its processes over machines."""
