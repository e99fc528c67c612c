"""Per-example augmentation on raw float32 HWC images in [0, 255], with stateless seeded ops.

Every function takes one image and a shape-[2] int seed and is usable eagerly or inside
`tf.data.Dataset.map`; the same seed always gives the same image. Sites: tf.data, before batching.
Flags: --pad_crop_pixels, --flip, --color_jitter, --rotation_degrees, --translate_fraction,
--shear_degrees, --zoom_fraction, --noise_std (cutout and random erasing live in tfreg.regularizers).
"""

import math

import tensorflow as tf


def split_seed(seed, num):
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=num))


def pad_crop(image, pixels, seed):
    """Zero-pad by `pixels`, then crop back at an offset uniform over all (2p+1)^2 windows."""
    h, w, c = image.shape
    padded = tf.pad(image, [[pixels, pixels], [pixels, pixels], [0, 0]])
    offset = tf.random.stateless_uniform([2], seed, minval=0, maxval=2 * pixels + 1, dtype=tf.int32)
    return tf.slice(padded, [offset[0], offset[1], 0], [h, w, c])


def flip(image, mode, seed):
    """Mirror left-right (horizontal), upside-down (vertical), or each independently (both)."""
    u = tf.random.stateless_uniform([2], seed)
    if mode in ("horizontal", "both"):
        image = tf.where(u[0] < 0.5, tf.reverse(image, [1]), image)
    if mode in ("vertical", "both"):
        image = tf.where(u[1] < 0.5, tf.reverse(image, [0]), image)
    return image


def color_jitter(image, strength, seed):
    """Brightness, contrast, saturation factors in [max(0, 1-s), 1+s]; hue shift in [-s/2, s/2].

    Applied in that fixed order (torchvision draws the order at random); saturation and hue only
    for RGB images.
    """
    low, high = max(0.0, 1.0 - strength), 1.0 + strength
    f = tf.random.stateless_uniform([3], seed, minval=low, maxval=high)
    image = tf.clip_by_value(image * f[0], 0.0, 255.0)
    gray = tf.image.rgb_to_grayscale(image) if image.shape[-1] == 3 else image
    image = tf.clip_by_value((image - tf.reduce_mean(gray)) * f[1] + tf.reduce_mean(gray), 0.0, 255.0)
    if image.shape[-1] == 3:
        gray = tf.image.rgb_to_grayscale(image)
        image = tf.clip_by_value(gray + (image - gray) * f[2], 0.0, 255.0)
        hue = min(strength / 2, 0.5)
        delta = tf.random.stateless_uniform([], tf.random.experimental.stateless_fold_in(seed, 1),
                                            minval=-hue, maxval=hue)
        image = tf.image.adjust_hue(image / 255.0, delta) * 255.0
    return image


def affine_matrix(rotation, shear, scale, ty, tx, height, width):
    """8 projective-transform parameters mapping output pixels to input pixels.

    Forward map about the image centre: out = c + scale * R(rotation) * Shear_x(shear) (in - c) + t.
    Angles in radians, translation in pixels.
    """
    cos, sin, tan = tf.cos(rotation), tf.sin(rotation), tf.tan(shear)
    # A = scale * [[cos, -sin], [sin, cos]] @ [[1, tan], [0, 1]]
    a00, a01 = scale * cos, scale * (cos * tan - sin)
    a10, a11 = scale * sin, scale * (sin * tan + cos)
    det = a00 * a11 - a01 * a10
    m00, m01, m10, m11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    px, py = cx + tx, cy + ty
    return tf.stack([m00, m01, cx - m00 * px - m01 * py,
                     m10, m11, cy - m10 * px - m11 * py, 0.0, 0.0])


def affine(image, rotation_degrees, shear_degrees, zoom_fraction, translate_fraction, seed):
    """Random rotation, horizontal shear, isotropic zoom and translation in one bilinear warp."""
    h, w, _ = image.shape
    u = tf.random.stateless_uniform([5], seed, minval=-1.0, maxval=1.0)
    matrix = affine_matrix(u[0] * math.radians(rotation_degrees), u[1] * math.radians(shear_degrees),
                           1.0 + u[2] * zoom_fraction, u[3] * translate_fraction * h,
                           u[4] * translate_fraction * w, h, w)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=matrix[None], output_shape=[h, w], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")
    return tf.ensure_shape(out[0], image.shape)


def pixel_noise(image, std, seed):
    """Adds N(0, (255 std)^2) to every pixel (std in [0, 1] intensity units), clipped to [0, 255]."""
    noise = tf.random.stateless_normal(tf.shape(image), seed, stddev=255.0 * std)
    return tf.clip_by_value(image + noise, 0.0, 255.0)
