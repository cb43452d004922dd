"""Training a chosen configuration: one fit, its recipe, several devices, and the final training with its seeds."""
