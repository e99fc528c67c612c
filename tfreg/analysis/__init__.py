"""Analysis tools behind `python -m tfreg.analyze`: loss landscape and gradient behaviour
(landscape.py), feature maps (features.py), the lecture's sanity checks and LR range test
(recipe.py). Each command writes a run-style directory (flags.txt, JSON / CSV results, PNG
figures); the learning-curve diagnosis lives in tfreg.report.diagnose.
"""
