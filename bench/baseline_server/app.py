"""A first version of the Doodle Quest server, built the way a first version usually is.

One process, one FastAPI WebSocket endpoint, games in a dict, one asyncio task per stage timer,
stdlib `json`, and for every finished stroke the whole drawing is rasterised and the category's
Keras model is asked with `model.predict` on that one image, right in the handler (no batching,
no worker processes, no incremental raster). Same models (`MODELS_DIR/categories.json`), same
rasteriser (`inference.raster.rasterize`), and the subset of protocol v1 (docs/protocol.md) the
load benchmark uses: hello/welcome, stage_start, stroke/ack, guess, stage_result (recognised or
timeout), game_over, ping/pong, and errors for strokes of a stage that is over. It is the yardstick
for `python -m bench.load --baseline`, not something to deploy.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import time
import uuid
from pathlib import Path

import numpy as np
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from inference.inputs import drawing_input

MODELS_DIR = Path(os.environ.get("MODELS_DIR", Path(__file__).resolve().parents[2] / "models"))
TIME_LIMIT_S = float(os.environ.get("DEFAULT_TIME_LIMIT_S", "40"))
STAGES = int(os.environ.get("DEFAULT_STAGE_COUNT", "5"))
INTERMISSION_MS = int(os.environ.get("INTERMISSION_MS", "3000"))
MIN_P = 0.5

app = FastAPI(title="Doodle Quest baseline")


class Model:
    def __init__(self, path: Path) -> None:
        import keras

        self.keras = keras.saving.load_model(path / "model.keras", compile=False)
        self.labels = json.loads((path / "labels.json").read_text())
        self.spec = json.loads((path / "card.json").read_text())["input"]

    def inputs(self, drawing: list) -> list[np.ndarray]:
        """The whole drawing as the model's input batch of one (a raster, and points if it reads them)."""
        row = drawing_input(drawing, self.spec)
        return [part[None] for part in row] if isinstance(row, tuple) else [row[None]]


def _load() -> tuple[dict, dict]:
    doc = json.loads((MODELS_DIR / "categories.json").read_text(encoding="utf-8"))
    models: dict[str, Model] = {}
    categories = {}
    for c in doc["categories"]:
        if c["model"] not in models:
            models[c["model"]] = Model(MODELS_DIR / c["model"])
        categories[c["code"]] = c
    return categories, models


CATEGORIES, MODELS = _load()
for _m in MODELS.values():  # the first predict builds the graph: not on a child's time
    _m.keras.predict(_m.inputs([[(0, 0, 0), (10, 10, 10)]]), verbose=0)


def now_ms() -> int:
    return int(time.time() * 1000)


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}


class Game:
    def __init__(self, ws: WebSocket, category: dict) -> None:
        self.ws = ws
        self.category = category
        self.model = MODELS[category["model"]]
        topics = category["topics"]
        self.plan = random.sample(topics, min(STAGES, len(topics)))
        self.names = {t["label"]: t for t in topics}
        self.mask = [self.model.labels.index(t["label"]) for t in topics]
        self.mask_labels = [t["label"] for t in topics]
        self.stage = -1
        self.drawing: list[list] = []
        self.drawing_stage = True
        self.started_ms = 0
        self.deadline_ms = 0
        self.timer: asyncio.Task | None = None
        self.results: list[dict] = []

    async def send(self, message: dict) -> None:
        await self.ws.send_text(json.dumps(message, ensure_ascii=False))

    def topic(self, label: str) -> dict:
        t = self.names[label]
        return {"label": label, "name_ko": t.get("name_ko", label), "name_en": t.get("name_en", label)}

    async def start_stage(self, index: int) -> None:
        self.stage = index
        self.drawing = []
        self.drawing_stage = True
        self.started_ms = now_ms()
        self.deadline_ms = self.started_ms + int(TIME_LIMIT_S * 1000)
        await self.send({"type": "stage_start", "stage": index, "stage_count": len(self.plan),
                         "topic": self.topic(self.plan[index]["label"]),
                         "time_limit_s": TIME_LIMIT_S, "started_at_ms": self.started_ms,
                         "deadline_ms": self.deadline_ms, "server_now_ms": now_ms(),
                         "received": []})
        self.timer = asyncio.create_task(self._timeout(index))

    async def _timeout(self, index: int) -> None:
        await asyncio.sleep(TIME_LIMIT_S)
        if self.stage == index and self.drawing_stage:
            await self.end_stage("timeout", [])

    async def end_stage(self, outcome: str, guesses: list) -> None:
        self.drawing_stage = False
        if self.timer is not None and outcome != "timeout":
            self.timer.cancel()
        last = self.stage == len(self.plan) - 1
        ended = now_ms()
        result = {"type": "stage_result", "stage": self.stage,
                  "topic": self.topic(self.plan[self.stage]["label"]), "outcome": outcome,
                  "recognized": outcome == "recognized", "time_ms": ended - self.started_ms,
                  "guesses": guesses,
                  "next_stage_at_ms": None if last else ended + INTERMISSION_MS}
        self.results.append(result)
        await self.send(result)
        if last:
            await self.send({"type": "game_over", "game_id": "-", "outcome": "completed",
                             "recognized": sum(r["recognized"] for r in self.results),
                             "stages": []})
        else:
            asyncio.create_task(self._next(self.stage + 1))

    async def _next(self, index: int) -> None:
        await asyncio.sleep(INTERMISSION_MS / 1000)
        await self.start_stage(index)

    async def stroke(self, m: dict) -> None:
        if m["stage"] != self.stage or not self.drawing_stage:
            await self.send({"type": "error", "code": "wrong_stage",
                             "message": f"stage {m['stage']} is not being drawn"})
            return
        while len(self.drawing) <= m["stroke"]:
            self.drawing.append([])
        stroke = self.drawing[m["stroke"]]
        new = m["points"][max(0, len(stroke) - m["start"]):]
        stroke.extend(new)
        if not m.get("end"):
            return
        points = sum(len(s) for s in self.drawing)
        await self.send({"type": "ack", "stage": self.stage, "stroke": m["stroke"],
                         "points": len(stroke)})
        # The first version: the whole drawing, one image, one predict, in the handler.
        probs = self.model.keras.predict(self.model.inputs([s for s in self.drawing if s]), verbose=0)[0][self.mask]
        probs = probs / max(float(probs.sum()), 1e-9)
        order = np.argsort(-probs)[:3]
        guesses = [{**self.topic(self.mask_labels[i]), "p": round(float(probs[i]), 4)} for i in order]
        await self.send({"type": "guess", "stage": self.stage, "points": points,
                         "t_ms": now_ms() - self.started_ms, "guesses": guesses})
        target = self.plan[self.stage]["label"]
        if guesses[0]["label"] == target and guesses[0]["p"] >= MIN_P:
            await self.end_stage("recognized", guesses[:1])


@app.websocket("/ws/play")
async def play(ws: WebSocket) -> None:
    await ws.accept()
    game: Game | None = None
    try:
        while True:
            m = json.loads(await ws.receive_text())
            kind = m.get("type")
            if kind == "ping":
                await ws.send_text(json.dumps({"type": "pong", "id": m.get("id")}))
            elif kind == "hello" and game is None:
                category = CATEGORIES.get(m.get("category"))
                if category is None:
                    await ws.send_text(json.dumps({"type": "error", "code": "unknown_category",
                                                   "message": "no such category"}))
                    await ws.close(1008)
                    return
                game = Game(ws, category)
                await game.send({"type": "welcome", "v": 1, "game_id": uuid.uuid4().hex,
                                 "resume_token": secrets.token_urlsafe(24), "resumed": False,
                                 "category": {"code": category["code"]},
                                 "limits": {"max_points_per_message": 512,
                                            "max_message_bytes": 65536,
                                            "guess_interval_ms": 250}})
                await game.start_stage(0)
            elif kind == "stroke" and game is not None:
                await game.stroke(m)
            else:
                await ws.send_text(json.dumps({"type": "error", "code": "invalid_message",
                                               "message": "not supported by the baseline"}))
    except WebSocketDisconnect:
        pass
    finally:
        if game is not None and game.timer is not None:
            game.timer.cancel()
