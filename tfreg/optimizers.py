"""tfreg's Keras optimizers and gradient transforms for your own models (public API;
docs/library.md).

- `SGD`, `Adam`, `AdamW`, `RMSprop`: Keras optimizers whose update is torch.optim's exactly
  (tfreg.train.optimizers says where Keras's differs), registered for Keras serialization, so a
  model compiled with one reloads with `keras.saving.load_model` after `import tfreg.optimizers`.
- `AdaptiveGradientClipping`: AGC (Brock et al. 2021) around any Keras optimizer, for `fit`.
- `clip_gradients`: the same clipping as a function of (gradients, variables), for a custom train
  step.
In both, the variables left unclipped are the ones the caller names (`exclude=`).
"""

from tfreg.regularizers.agc import clip_gradients
from tfreg.train.optimizers import SGD, AdamW, Adam, AdaptiveGradientClipping, RMSprop

__all__ = ["SGD", "Adam", "AdamW", "AdaptiveGradientClipping", "RMSprop", "clip_gradients"]
