"""A tqdm progress bar over training epochs (Keras' own bar is noisy in log files)."""
from __future__ import annotations

import sys

import keras
from tqdm import tqdm


class TqdmEpochs(keras.callbacks.Callback):
    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.bar = tqdm(total=epochs, desc="train", unit="epoch", file=sys.stderr)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_accuracy")})
        self.bar.update(1)
        print(f"epoch {epoch + 1}: " + " ".join(f"{k}={v:.4f}" for k, v in logs.items()), file=sys.stderr, flush=True)

    def on_train_end(self, logs: dict | None = None) -> None:
        # One fit() per epoch (fresh augmentation) ends training many times: close at the last.
        if self.bar.n >= (self.bar.total or 0):
            self.bar.close()
