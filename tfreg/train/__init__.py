"""The train step, optimizers and schedules, callbacks, evaluation and train_and_evaluate."""
