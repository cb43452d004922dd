"""The networks: plain builders, the layers they use, the Keras Tuner hypermodels and their search spaces."""
