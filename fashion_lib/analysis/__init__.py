"""What the trained models show: evaluation, statistics, calibration, explanations, baselines, the seed's
claims checked, and the figures."""
