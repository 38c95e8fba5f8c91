"""Small CNNs for 28-32 px drawings, cheap enough for thousands of guesses a second on CPU."""
from __future__ import annotations

import keras
from keras import layers


def build_cnn(size: int, channels: int, n_classes: int, arch: str = "small") -> keras.Model:
    """A VGG-like CNN: conv blocks with max pooling, a small dense head, softmax output.

    arch "lite": 16-32-64 filters (~2 M multiply-adds at 28 px), "small": 32-64-128 (~7.8 M),
    "medium": 48-96-192 with two convs in the last block; "tiny" is for smoke tests.
    """
    widths = {"lite": (16, 32, 64), "lite_wide": (16, 32, 64), "small": (32, 64, 128), "medium": (48, 96, 192), "tiny": (8, 16, 16)}[arch]
    inp = keras.Input((size, size, channels), name="image")
    x = inp
    for i, w in enumerate(widths):
        x = layers.Conv2D(w, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)
        x = layers.ReLU()(x)
        if arch == "medium" and i == len(widths) - 1:
            x = layers.Conv2D(w, 3, padding="same", use_bias=False, name=f"conv{i + 1}b")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}b")(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    # "lite_wide": lite's convolutions with a wider head and lighter dropout (lite underfit).
    drop = 0.2 if arch == "lite_wide" else 0.3
    x = layers.Flatten()(x)
    x = layers.Dropout(drop)(x)
    x = layers.Dense({"tiny": 32, "lite": 128}.get(arch, 256), activation="relu", name="fc")(x)
    x = layers.Dropout(drop)(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name=f"doodle_cnn_{arch}")


def _lstm_macs(lstm, input_shape) -> int:
    """Four gates, each from the step's input and the previous output, at every step."""
    steps, features = input_shape[1], input_shape[-1]
    return int(steps * 4 * lstm.units * (features + lstm.units))


def count_macs(model: keras.Model) -> int:
    """Multiply-adds of the conv, recurrent and dense layers for one input."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # an ensemble's member towers
            total += count_macs(layer)
        elif isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            c_in = layer.input.shape[-1]
            total += h * w * c_out * kh * kw * c_in
        elif isinstance(layer, layers.Conv1D):
            _, steps, c_out = layer.output.shape
            total += steps * c_out * layer.kernel_size[0] * layer.input.shape[-1]
        elif isinstance(layer, layers.Bidirectional):  # a stroke-sequence model's LSTM
            total += 2 * _lstm_macs(layer.forward_layer, layer.input.shape)
        elif isinstance(layer, layers.LSTM):
            total += _lstm_macs(layer, layer.input.shape)
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
