"""Batch normalisation and dropout as Keras computes them, in fewer TensorFlow kernels.

On a CPU the element-wise work around the matrix products is a large share of a training step, the more
so the fewer channels a model has: Keras' BatchNormalization trains through a dozen small kernels
(moments, normalisation, their gradients) and its Dropout draws one float per value. These two layers
keep Keras' arithmetic and replace the training-time computation: TensorFlow's fused batch-normalisation
kernel (one operation forward, one backward, run by oneDNN) and a dropout mask drawn as 16-bit integers,
two per random word.
Anything they do not handle (another backend, masks, renormalisation, other axes or dtypes, noise
shapes) goes to the Keras layer unchanged. `make bench` measures the speed; tests/test_layers.py checks
that they compute what Keras' layers compute. They only change training, so saved models carry Keras'
own layers instead (`with_keras_layers`) and load without this project.
"""

from __future__ import annotations

import keras

# The dropout mask compares 16-bit random integers with round(rate * 2**16).
_MASK_LEVELS = 2**16


def _tensorflow_backend() -> bool:
    return keras.backend.backend() == "tensorflow"


@keras.saving.register_keras_serializable(package="fashion_lib")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization whose training step runs TensorFlow's fused kernel.

    For float32 inputs of rank 2 (batch, features) or 4 (batch, height, width, channels) normalised
    over the last axis; a rank-2 input is viewed as a batch of 1×1 images. Outputs, gradients and the
    moving statistics are Keras': the kernel returns the batch variance with Bessel's correction, which
    is undone before it enters the moving variance, as Keras keeps the plain batch variance.
    """

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        images = inputs if len(inputs.shape) == 4 else tf.reshape(inputs, (-1, 1, 1, channels))
        scale = self.gamma if self.scale else tf.ones((channels,), inputs.dtype)
        offset = self.beta if self.center else tf.zeros((channels,), inputs.dtype)
        outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
            images, scale, offset, epsilon=self.epsilon, is_training=True
        )
        count = tf.cast(tf.size(images) // channels, inputs.dtype)
        variance = unbiased_variance * (count - 1.0) / count
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.reshape(outputs, tf.shape(inputs))

    def _fusable(self, inputs, training, mask) -> bool:
        rank = len(inputs.shape)
        return (
            bool(training)
            and self.trainable
            and _tensorflow_backend()
            and mask is None
            and not self.renorm
            and not self.synchronized
            and rank in (2, 4)
            and self.axis in (-1, rank - 1)
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
            and self.compute_dtype == "float32"
        )


@keras.saving.register_keras_serializable(package="fashion_lib")
class FastDropout(keras.layers.Dropout):
    """keras.layers.Dropout that draws its training mask as 16-bit integers, two per random 32-bit word.

    A value is dropped where its integer is below round(rate · 65536), so the rate is kept to within
    1/131072, and the kept values are scaled by the exact inverse of the keep probability, so that the
    expected output equals the input as in Keras. The layer's seed generator drives the draws, so
    `keras.utils.set_random_seed` makes them repeat. Identity at inference.
    """

    def call(self, inputs, training=False):
        if not (training and self.rate > 0 and self.noise_shape is None and _tensorflow_backend()):
            return super().call(inputs, training=training)
        import tensorflow as tf

        threshold = round(self.rate * _MASK_LEVELS)
        if threshold >= _MASK_LEVELS:
            return tf.zeros_like(inputs)
        seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)
        size = tf.size(inputs)
        words = tf.random.stateless_uniform(((size + 1) // 2,), seed=seed, minval=None, maxval=None, dtype=tf.uint32)
        draws = tf.reshape(tf.bitcast(words, tf.uint16), (-1,))[:size]
        keep = tf.reshape(draws, tf.shape(inputs)) >= threshold
        scale = tf.cast(_MASK_LEVELS / (_MASK_LEVELS - threshold), inputs.dtype)
        return tf.where(keep, inputs * scale, tf.zeros_like(inputs))


# Each fast layer and the Keras layer whose arithmetic it keeps; their configurations and weights are the same.
KERAS_EQUIVALENTS: dict[type[keras.layers.Layer], type[keras.layers.Layer]] = {
    FusedBatchNormalization: keras.layers.BatchNormalization,
    FastDropout: keras.layers.Dropout,
}


def with_keras_layers(model: keras.Model) -> keras.Model:
    """A copy of `model` with Keras' own layers in place of this module's: same weights, same predictions.

    The fast layers differ from Keras' only in how they train, so a model saved for use elsewhere carries
    Keras' layers, and loading it needs Keras alone. A compiled model's copy is compiled alike, with an
    optimizer of the same configuration holding the same state.
    """

    def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        keras_class = KERAS_EQUIVALENTS.get(type(layer), type(layer))
        return keras_class.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone_layer)
    copy.set_weights(model.get_weights())
    if model.optimizer is not None:
        copy.compile(
            optimizer=type(model.optimizer).from_config(model.optimizer.get_config()),
            loss=model.loss,
            metrics=["accuracy"],
            steps_per_execution=model.steps_per_execution,
        )
        if model.optimizer.built:
            # Same trainable variables in the same order, so the optimizer's slots line up one to one.
            copy.optimizer.build(copy.trainable_variables)
            for target, source in zip(copy.optimizer.variables, model.optimizer.variables, strict=True):
                target.assign(source)
    return copy
