"""Model zoo. `specs` holds the architecture tables (no TensorFlow); `build` builds the graphs."""
