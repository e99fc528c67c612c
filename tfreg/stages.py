"""The one naming rule of stage layers, shared by every flag that selects stages (--norm_stages,
--agc_stages, --trainable_stages): a layer named `stageK_...` is in stage K, the stem (`stem_...`)
is in stage 1, anything else (input normalization, head, classifier) in no stage. Plain Python.
"""


def stage_of(layer_name):
    """1-based stage of a layer by its name, None for the input normalization and the head."""
    if layer_name.startswith("stem_"):
        return 1
    head, _, rest = layer_name.partition("_")
    if head.startswith("stage") and head[5:].isdigit() and rest:
        return int(head[5:])
    return None


def selected(layer_name, stages):
    """Whether a stage list (None = every stage, head included) selects the layer."""
    return stages is None or stage_of(layer_name) in stages
