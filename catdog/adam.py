"""Keras' Adam, each weight updated by TensorFlow's fused Adam kernel.

Keras 3's Adam updates a weight with separate element-wise operations (each moment, then the
weight), each a pass over memory; TensorFlow's `ResourceApplyAdam` computes the same formula in
one pass. For Model 1's 42-million-weight dense layer the update is most of what bfloat16 cannot
shorten in a step (the README's epoch breakdown). Same arithmetic, state and config as
`keras.optimizers.Adam`, so a run's settings and saved files do not change:

    model.compile(optimizer=FusedAdam(0.001), ...)
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="catdog")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose dense float32 updates run as one fused kernel.

    Everything else (AMSGrad, sparse gradients, other dtypes, a `tf.distribute` strategy, whose
    mirrored variables the kernel cannot take) goes through Keras' own update.
    """

    def update_step(self, gradient, variable, learning_rate):
        fusable = (
            not self.amsgrad
            and not isinstance(gradient, tf.IndexedSlices)
            and variable.dtype == tf.float32
            and not tf.distribute.has_strategy()
        )
        if not fusable:
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        momentum, velocity = self._momentums[index], self._velocities[index]
        step = tf.cast(self.iterations + 1, tf.float32)
        beta_1 = tf.constant(self.beta_1, tf.float32)
        beta_2 = tf.constant(self.beta_2, tf.float32)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=momentum.handle,
            v=velocity.handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, tf.float32),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.constant(self.epsilon, tf.float32),
            grad=tf.cast(gradient, tf.float32),
        )
