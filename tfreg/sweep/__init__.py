"""Sweeps: `python -m tfreg.sweep` runs a study (arm flagfiles and/or a grid, times seeds) as one
resumable command, each run its own `python -m tfreg.run` process in SWEEP_DIR/<arm>/seed_<k>/.

plan.py decides and validates the runs, launch.py (local processes) and slurm.py (a Slurm job
array through submitit) run them, record.py writes sweep.csv and the TensorBoard HParams
experiment. Nothing here imports TensorFlow.
"""
