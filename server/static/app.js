/* Doodle Quest tablet page: speaks docs/protocol.md (v1) over /ws/play.
 *
 * The page keeps the child's ink itself (per stage, every point) and a cursor per stroke of what
 * the current socket has been sent. The server's `stage_start.received` and `ack` say what it
 * really holds, so after any drop the page resends from there: pending strokes are never lost.
 * No build step: plain script, no dependencies.
 */
(() => {
  "use strict";

  const params = new URLSearchParams(location.search);
  const LANG = params.get("lang") === "en" ? "en" : "ko";
  const PRESET_CATEGORY = params.get("category");
  const AGE_BAND = ["3-4", "5-6", "7-8"].includes(params.get("age")) ? params.get("age") : null;
  const CLASS_CODE = params.get("class") || null;

  const SEND_INTERVAL_MS = 75;        // stroke chunks go out this often while drawing
  const PING_INTERVAL_MS = 5000;      // heartbeat: a dead Wi-Fi is noticed without a close frame
  const PONG_TIMEOUT_MS = 9000;
  // Past a deadline the server gave (a stage's end, the next stage's start), this long without
  // news means messages were lost on the way (a server's Redis restarted): reconnect, and the
  // resume brings where the game is now.
  const NEWS_GRACE_MS = 5000;
  const CONNECT_TIMEOUT_MS = 8000;
  const BACKOFF_BASE_MS = 400;
  const BACKOFF_CAP_MS = 10000;
  const MAX_POINTS_PER_STROKE = 3900; // below the server's 4000: a long scribble becomes 2 strokes
  const PALM_SIZE_PX = 70;            // a contact wider/taller than this is a palm, not a finger
  const SAVED_GAME_KEY = "dq.game";
  const SAVED_GAME_MAX_AGE_MS = 55000; // the server keeps a dropped game for 60 s
  const INK = "#1a1a2e";
  const LINE_WIDTH = 7;

  const $ = (sel) => document.querySelector(sel);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };

  // ---------------------------------------------------------------- identity

  /** A pseudonymous player id kept on this device (never a name). */
  function playerId() {
    let id = null;
    try { id = localStorage.getItem("dq.player_id"); } catch (_) { /* private mode */ }
    if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
      const uuid = (crypto.randomUUID ? crypto.randomUUID() : fallbackUuid()).replace(/-/g, "");
      id = "p-" + uuid;
      try { localStorage.setItem("dq.player_id", id); } catch (_) { /* keep it for this page */ }
    }
    return id;
  }
  function fallbackUuid() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  // ---------------------------------------------------------------- state

  const game = {
    category: null,          // code
    canvas: null,            // {width, height}: logical drawing size declared in hello
    token: null,
    gameId: null,
    limits: { max_points_per_message: 512, max_message_bytes: 65536 },
    stageCount: 0,
    stages: [],              // per stage: {topic, strokes: [...], t0, deadline, total, outcome, guesses, history}
    current: -1,             // stage index being drawn, -1 when none
    drawing: false,          // a stage is running (not intermission / game over)
    over: false,
    lastReceived: null,      // the newest stage_start.received (for tests and diagnostics)
    // The stage that ended last: its strokes the server has not acknowledged were finished before
    // the child saw the result, so they still go to the server (docs/protocol.md, late strokes).
    lateStage: -1,
    savedAt: 0,
  };

  function stage() { return game.current >= 0 ? game.stages[game.current] : null; }

  function newStageRecord(topic) {
    return { topic, strokes: [], t0: performance.now(), deadline: 0, total: 1, outcome: null,
             guesses: [], history: [], timeMs: null };
  }

  // Persist the game (token + ink) so even a reload of the page can resume it.
  function saveGame() {
    if (!game.token || game.over) return;
    const data = {
      token: game.token, gameId: game.gameId, category: game.category, canvas: game.canvas,
      current: game.current, lateStage: game.lateStage, savedAt: Date.now(),
      stages: game.stages.map((s) => s && {
        topic: s.topic, outcome: s.outcome, guesses: s.guesses, history: s.history, announced: !!s.announced,
        strokes: s.strokes.map((k) => ({ points: k.points, ended: k.ended })),
      }),
    };
    try { localStorage.setItem(SAVED_GAME_KEY, JSON.stringify(data)); } catch (_) { /* full */ }
    try { sessionStorage.setItem("dq.resume_token", game.token); } catch (_) { /* ignore */ }
  }
  let saveTimer = 0;
  function saveSoon() {
    if (saveTimer) return;
    saveTimer = setTimeout(() => { saveTimer = 0; saveGame(); }, 500);
  }
  function loadSavedGame() {
    try {
      const data = JSON.parse(localStorage.getItem(SAVED_GAME_KEY) || "null");
      if (!data || !data.token || Date.now() - data.savedAt > SAVED_GAME_MAX_AGE_MS) return null;
      return data;
    } catch (_) { return null; }
  }
  function forgetSavedGame() {
    try { localStorage.removeItem(SAVED_GAME_KEY); sessionStorage.removeItem("dq.resume_token"); } catch (_) { /* ignore */ }
  }

  // ---------------------------------------------------------------- connection

  const net = {
    ws: null,
    attempt: 0,
    timer: 0,
    pingTimer: 0,
    pingId: 0,
    lastPong: 0,
    wanted: false,        // we want to be connected (a game is on)
    blockedForTest: false,
    deafSocket: null,     // tests: a socket whose game events are lost on the way (pongs come)
    newsTimer: 0,         // fires when news is overdue (see NEWS_GRACE_MS)
    serverOffsetMs: null, // the server's clock minus performance.now(), from stage_start
    log: [],              // the last messages received (tests read them)
  };

  function setNet(state) { document.body.dataset.net = state; }

  // --- joining the class: a session token for the socket (docs/protocol.md, "Joining a class")

  const SESSION_KEY = "dq.session";
  const CLASS_KEY = "dq.class";

  function forgetSession() { localStorage.removeItem(SESSION_KEY); }

  async function sessionToken() {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(SESSION_KEY) || "null"); } catch (_) { saved = null; }
    if (saved && saved.player_id === playerId() && saved.expires_at_s * 1000 > Date.now() + 60000) return saved.token;
    let code = CLASS_CODE || localStorage.getItem(CLASS_KEY) || null;
    for (;;) {
      const body = code ? { player_id: playerId(), code } : { player_id: playerId() };
      const r = await fetch("/api/v1/join", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      if (r.ok) {
        const j = await r.json();
        localStorage.setItem(SESSION_KEY, JSON.stringify({ token: j.session_token, expires_at_s: j.expires_at_s, player_id: playerId() }));
        if (code) localStorage.setItem(CLASS_KEY, code);
        return j.session_token;
      }
      if (r.status === 403 || r.status === 404) { // a code is needed, or the one we had is gone
        localStorage.removeItem(CLASS_KEY);
        code = await askClassCode(r.status === 404);
        continue;
      }
      throw new Error("join failed: " + r.status);
    }
  }

  // The teacher types the class code once per tablet (or puts ?class=CODE in the page's URL).
  function askClassCode(wrong) {
    return new Promise((resolve) => {
      const box = document.createElement("form");
      box.id = "class-code";
      box.className = "overlay class-code";
      box.innerHTML = `<div class="card"><div class="lock">🔑</div>
        <input name="code" autocomplete="off" autocapitalize="characters" maxlength="9" aria-label="class code"
               placeholder="K7P2QX" style="font-size:48px;width:7.5em;text-align:center;letter-spacing:.2em">
        <button type="submit" class="big" aria-label="OK" style="min-width:96px;min-height:96px;font-size:48px">✔</button>
        ${wrong ? '<div class="wrong" style="font-size:48px">✖</div>' : ""}</div>`;
      document.body.appendChild(box);
      const input = box.querySelector("input");
      input.focus();
      box.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const code = input.value.trim().toUpperCase();
        if (!code) return;
        box.remove();
        resolve(code);
      });
    });
  }

  function connect() {
    clearTimeout(net.timer);
    net.timer = 0;
    if (net.blockedForTest) { scheduleReconnect(); return; }
    sessionToken().then(openSocket, () => scheduleReconnect());
  }

  function openSocket(sessionTokenValue) {
    if (!net.wanted || net.ws) return;
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/play";
    let ws;
    try { ws = new WebSocket(url); } catch (_) { scheduleReconnect(); return; }
    net.ws = ws;
    welcomed = false;
    synced = false;
    // A black-holed Wi-Fi leaves a socket "connecting" forever: give up on it and try again.
    const openTimer = setTimeout(() => { if (ws === net.ws && ws.readyState === WebSocket.CONNECTING) dropSocket(); }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(openTimer);
      if (ws !== net.ws) return;
      send({
        type: "hello", v: 1, player_id: playerId(), category: game.category,
        resume_token: game.token, canvas: game.canvas, age_band: AGE_BAND,
        session_token: sessionTokenValue,
      });
      net.lastPong = performance.now();
      clearInterval(net.pingTimer);
      net.pingTimer = setInterval(heartbeat, PING_INTERVAL_MS);
    };
    ws.onmessage = (ev) => {
      if (ws !== net.ws) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      if (ws === net.deafSocket && msg.type !== "pong") return;
      net.lastPong = performance.now(); // any message proves the line is alive
      net.log.push(msg);
      if (net.log.length > 3000) net.log.splice(0, 1000);
      onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== net.ws) return;
      net.ws = null;
      clearInterval(net.pingTimer);
      if (ev.code === 1008 && net.unauthorized) { // our session is not (or no longer) valid
        net.unauthorized = false;
        forgetSession();
        if (net.wanted) scheduleReconnect();
        return;
      }
      if (ev.code === 1008) { // the server refuses this game (unknown category, not ours)
        net.wanted = false;
        forgetSavedGame();
        game.token = null;
        setNet("idle");
        showStart(true);
        return;
      }
      if (net.wanted) scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  function scheduleReconnect() {
    if (!net.wanted || net.timer) return;
    setNet("reconnecting");
    // Exponential backoff with jitter, so a classroom of tablets does not come back in lockstep.
    const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** net.attempt);
    const delay = base / 2 + Math.random() * base / 2;
    net.attempt = Math.min(net.attempt + 1, 10);
    net.timer = setTimeout(() => { net.timer = 0; connect(); }, delay);
  }

  function dropSocket() {
    const ws = net.ws;
    net.ws = null;
    clearInterval(net.pingTimer);
    if (ws) { try { ws.close(); } catch (_) { /* ignore */ } }
    if (net.wanted) scheduleReconnect();
  }

  /** Expect a stage-level message by `localMs` (performance.now() time); past it and the grace,
   * drop the socket so the reconnect's resume says where the game is. */
  function expectNewsBy(localMs) {
    clearTimeout(net.newsTimer);
    const wait = Math.max(0, localMs - performance.now()) + NEWS_GRACE_MS;
    net.newsTimer = setTimeout(() => {
      net.newsTimer = 0;
      if (!game.over && net.ws) dropSocket();
    }, wait);
  }

  function heartbeat() {
    if (!net.ws || net.ws.readyState !== WebSocket.OPEN) return;
    if (performance.now() - net.lastPong > PONG_TIMEOUT_MS) { dropSocket(); return; }
    send({ type: "ping", id: ++net.pingId });
  }

  function send(msg) {
    const ws = net.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    try { ws.send(JSON.stringify(msg)); return true; } catch (_) { return false; }
  }

  // The newest ink and guesses are kept however the page goes away (a reload, a closed tab).
  window.addEventListener("pagehide", () => saveGame());
  window.addEventListener("online", () => { if (net.wanted && !net.ws) { net.attempt = 0; connect(); } });

  // ---------------------------------------------------------------- messages

  let welcomed = false;
  let synced = false; // the server told us (stage_start.received) what it holds on this socket

  function onMessage(msg) {
    switch (msg.type) {
      case "welcome": return onWelcome(msg);
      case "stage_start": return onStageStart(msg);
      case "ack": return onAck(msg);
      case "guess": return onGuess(msg);
      case "stage_result": return onStageResult(msg);
      case "game_over": return onGameOver(msg);
      case "error": return onError(msg);
      default: return undefined;
    }
  }

  function onWelcome(msg) {
    welcomed = true;
    net.attempt = 0;
    setNet("online");
    if (!msg.resumed) {
      // A new game (the first, or the old one could not be resumed): start from a clean slate.
      game.stages = [];
      game.current = -1;
      game.lateStage = -1;
      game.over = false;
    }
    game.token = msg.resume_token;
    game.gameId = msg.game_id;
    // A new socket: the late stage's unacknowledged strokes go again, whole (the server keeps
    // only the points it does not have).
    const late = game.stages[game.lateStage];
    if (late) late.strokes.forEach((k) => { if (!k.acked) { k.sent = 0; k.endSent = false; } });
    game.limits = Object.assign({}, game.limits, msg.limits || {});
    saveGame();
  }

  function onStageStart(msg) {
    const now = performance.now();
    // Back after a drop into a later stage: the one being drawn ended while we were away, and
    // what the child drew of it before hearing so still belongs to it.
    const was = stage();
    if (was && game.current !== msg.stage && !was.outcome) {
      if (pointer.stroke) endPointer();
      game.lateStage = game.current;
    }
    let s = game.stages[msg.stage];
    const known = s && s.topic && s.topic.label === msg.topic.label;
    if (!known) {
      s = newStageRecord(msg.topic);
      game.stages[msg.stage] = s;
    }
    // Stage time by our clock: keep the first t0 so points of one stage share one origin.
    if (!known || s.t0Set !== true) {
      s.t0 = now - Math.max(0, msg.server_now_ms - msg.started_at_ms);
      s.t0Set = true;
    }
    s.total = msg.time_limit_s * 1000;
    document.body.dataset.timeLimitS = String(msg.time_limit_s); // the time bar's full length (the band's)
    s.deadline = now + (msg.deadline_ms - msg.server_now_ms);
    net.serverOffsetMs = msg.server_now_ms - now;
    expectNewsBy(s.deadline);
    s.outcome = null;
    game.stageCount = msg.stage_count;
    const fresh = game.current !== msg.stage;
    game.current = msg.stage;
    game.drawing = true;
    game.lastReceived = msg.received || [];
    synced = true;
    // What the server holds decides where each stroke resumes.
    s.strokes.forEach((k, i) => {
      const r = game.lastReceived[i];
      k.sent = r ? Math.min(r.points, k.points.length) : 0;
      k.endSent = !!(r && r.ended);
      k.acked = !!(r && r.ended);
    });
    showGame();
    hideOverlay();
    renderTopic(s.topic, fresh);
    renderDots();
    if (fresh) {
      redrawPad();
      sayTopic(s.topic);
    }
    renderBubble(); // also after a reload: the guesses so far come back with the ink
    flushStrokes();
    saveGame();
  }

  function onAck(msg) {
    const s = game.stages[msg.stage];
    if (!s || !s.strokes[msg.stroke]) return;
    const k = s.strokes[msg.stroke];
    k.acked = true;
    k.endSent = true;
    k.sent = Math.max(k.sent, Math.min(msg.points, k.points.length));
  }

  function onGuess(msg) {
    const s = game.stages[msg.stage];
    if (!s || !msg.guesses || !msg.guesses.length) return;
    s.guesses = msg.guesses;
    const top = msg.guesses[0];
    const last = s.history[s.history.length - 1];
    if (!last || last.label !== top.label) {
      s.history.push(top);
      if (msg.stage === game.current && game.drawing) sayGuess(top, msg.stage);
      saveSoon(); // the bubble comes back after a reload
    }
    if (msg.stage === game.current) renderBubble(true);
  }

  function onStageResult(msg) {
    let s = game.stages[msg.stage];
    if (!s) { s = newStageRecord(msg.topic); game.stages[msg.stage] = s; }
    s.outcome = msg.outcome;
    s.timeMs = msg.time_ms;
    if (msg.guesses && msg.guesses.length) s.guesses = msg.guesses;
    if (msg.recognized && s.guesses[0] && (!s.history.length || s.history[s.history.length - 1].label !== s.topic.label)) {
      s.history.push(s.guesses[0]);
    }
    game.drawing = false;
    // The next stage starts at next_stage_at_ms; after the last one, game_over comes at once.
    expectNewsBy(msg.next_stage_at_ms != null && net.serverOffsetMs != null
      ? msg.next_stage_at_ms - net.serverOffsetMs : performance.now());
    if (msg.stage === game.current) endPointer();
    game.lateStage = msg.stage;
    flushLate();
    renderDots();
    if (msg.stage === game.current) renderBubble(true);
    showOverlay(s, msg.outcome);
    saveGame();
  }

  function onGameOver(msg) {
    clearTimeout(net.newsTimer);
    // The game ended while we were away (no stage_result seen): the last stage's ink still counts.
    const was = stage();
    if (was && !was.outcome && game.lateStage !== game.current) {
      if (pointer.stroke) endPointer();
      game.lateStage = game.current;
    }
    game.over = true;
    game.drawing = false;
    net.wanted = false;
    forgetSavedGame();
    (msg.stages || []).forEach((st) => {
      let s = game.stages[st.stage];
      if (!s) { s = newStageRecord(st.topic); game.stages[st.stage] = s; }
      s.topic = st.topic;
      s.outcome = st.outcome;
      s.final = st.guesses || [];
    });
    flushLate(); // sent before the close below: a socket sends what it was given first
    const ws = net.ws;
    net.ws = null;
    clearInterval(net.pingTimer);
    if (ws) try { ws.close(1000); } catch (_) { /* ignore */ }
    setNet("idle");
    // Let the last celebration be seen before the gallery.
    const wait = $("#overlay").hidden ? 300 : 2200;
    setTimeout(() => showGallery(msg), wait);
  }

  function onError(msg) {
    if (msg.code === "unauthorized") {
      net.unauthorized = true; // the close (1008) follows: join again, then reconnect
    } else if (msg.code === "points_missing" || msg.code === "rate_limited") {
      // The server has fewer points than we assumed: resend every unacknowledged stroke (safe).
      for (const s of [stage(), game.stages[game.lateStage]]) {
        if (s) s.strokes.forEach((k) => { if (!k.acked) { k.sent = 0; k.endSent = false; } });
      }
    } else if (msg.code === "resume_failed") {
      game.token = null; // a new game starts: its welcome follows
    }
  }

  // ---------------------------------------------------------------- sending strokes

  function flushStrokes() {
    const s = stage();
    if (!s || !game.drawing || !net.ws || net.ws.readyState !== WebSocket.OPEN || !welcomed || !synced) return;
    const max = Math.max(1, game.limits.max_points_per_message || 512);
    for (let i = 0; i < s.strokes.length; i++) {
      const k = s.strokes[i];
      while (k.sent < k.points.length) {
        const chunk = k.points.slice(k.sent, k.sent + max);
        const last = k.sent + chunk.length === k.points.length;
        const end = k.ended && last;
        if (!send({ type: "stroke", stage: game.current, stroke: i, start: k.sent, points: chunk, end })) return;
        k.sent += chunk.length;
        if (end) k.endSent = true;
      }
      if (k.ended && !k.endSent) {
        if (!send({ type: "stroke", stage: game.current, stroke: i, start: k.points.length, points: [], end: true })) return;
        k.endSent = true;
      }
      if (!k.ended) break; // strokes go in order; nothing after an open stroke exists anyway
    }
  }
  /** The strokes of the stage that ended last which the server has not acknowledged: each went
   *  on its way before the child saw the result, so it is part of that drawing. Sent once per
   *  socket; the server keeps those begun before its result and refuses the others. */
  function flushLate() {
    const i = game.lateStage;
    const s = i >= 0 ? game.stages[i] : null;
    if (!s || (game.drawing && i === game.current) || !welcomed) return;
    if (!net.ws || net.ws.readyState !== WebSocket.OPEN) return;
    const max = Math.max(1, game.limits.max_points_per_message || 512);
    for (let j = 0; j < s.strokes.length; j++) {
      const k = s.strokes[j];
      if (k.acked || !k.points.length) continue;
      k.ended = true; // a stroke the result cut short ends where the finger was
      while (k.sent < k.points.length) {
        const chunk = k.points.slice(k.sent, k.sent + max);
        const end = k.sent + chunk.length === k.points.length;
        if (!send({ type: "stroke", stage: i, stroke: j, start: k.sent, points: chunk, end })) return;
        k.sent += chunk.length;
        if (end) k.endSent = true;
      }
      if (!k.endSent) {
        if (!send({ type: "stroke", stage: i, stroke: j, start: k.points.length, points: [], end: true })) return;
        k.endSent = true;
      }
    }
  }
  setInterval(() => { flushStrokes(); flushLate(); }, SEND_INTERVAL_MS);

  // ---------------------------------------------------------------- drawing

  const pad = $("#pad");
  const ctx = pad.getContext("2d");
  const view = { scale: 1, ox: 0, oy: 0, dpr: 1, cssW: 0, cssH: 0 };
  const pointer = { id: null, type: null, stroke: null };

  function layoutPad() {
    const r = pad.getBoundingClientRect();
    view.cssW = r.width;
    view.cssH = r.height;
    view.dpr = window.devicePixelRatio || 1;
    pad.width = Math.max(1, Math.round(r.width * view.dpr));
    pad.height = Math.max(1, Math.round(r.height * view.dpr));
    const c = game.canvas || { width: r.width, height: r.height };
    // The game's drawing size is fixed at hello; a rotated tablet shows it scaled to fit.
    view.scale = Math.min(r.width / c.width, r.height / c.height);
    view.ox = (r.width - c.width * view.scale) / 2;
    view.oy = (r.height - c.height * view.scale) / 2;
    redrawPad();
  }
  window.addEventListener("resize", () => { if (document.body.dataset.screen === "game") layoutPad(); });
  document.addEventListener("visibilitychange", () => {
    // Back from another app or a locked screen: the socket may have died quietly.
    if (document.visibilityState === "visible" && net.wanted && !net.ws) { net.attempt = 0; clearTimeout(net.timer); net.timer = 0; connect(); }
  });

  function toLogical(ev) {
    const r = pad.getBoundingClientRect();
    const c = game.canvas;
    let x = (ev.clientX - r.left - view.ox) / view.scale;
    let y = (ev.clientY - r.top - view.oy) / view.scale;
    x = Math.min(Math.max(x, 0), c.width);
    y = Math.min(Math.max(y, 0), c.height);
    return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
  }

  function redrawPad() {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, pad.width, pad.height);
    const c = game.canvas;
    if (!c) return;
    ctx.setTransform(view.dpr * view.scale, 0, 0, view.dpr * view.scale, view.dpr * view.ox, view.dpr * view.oy);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, c.width, c.height);
    const s = stage();
    if (s) drawStrokes(ctx, s.strokes, LINE_WIDTH);
  }

  function drawStrokes(g, strokes, width) {
    g.strokeStyle = INK;
    g.fillStyle = INK;
    g.lineWidth = width;
    g.lineCap = "round";
    g.lineJoin = "round";
    for (const k of strokes) {
      const p = k.points;
      if (!p.length) continue;
      if (p.length === 1) { g.beginPath(); g.arc(p[0][0], p[0][1], width / 2, 0, Math.PI * 2); g.fill(); continue; }
      g.beginPath();
      g.moveTo(p[0][0], p[0][1]);
      for (let i = 1; i < p.length; i++) g.lineTo(p[i][0], p[i][1]);
      g.stroke();
    }
  }

  function drawSegment(a, b) {
    ctx.setTransform(view.dpr * view.scale, 0, 0, view.dpr * view.scale, view.dpr * view.ox, view.dpr * view.oy);
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
    ctx.lineWidth = LINE_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    if (!a) { ctx.arc(b[0], b[1], LINE_WIDTH / 2, 0, Math.PI * 2); ctx.fill(); return; }
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }

  function isPalm(ev) {
    return ev.pointerType === "touch" && (ev.width > PALM_SIZE_PX || ev.height > PALM_SIZE_PX);
  }

  function beginStroke(ev) {
    const s = stage();
    const k = { points: [], ended: false, sent: 0, endSent: false, acked: false };
    s.strokes.push(k);
    pointer.stroke = k;
    addPoint(ev);
  }

  function addPoint(ev) {
    const s = stage();
    const k = pointer.stroke;
    if (!s || !k) return;
    const [x, y] = toLogical(ev);
    const t = Math.max(0, Math.round(performance.now() - s.t0));
    const prev = k.points[k.points.length - 1];
    if (prev && Math.abs(prev[0] - x) < 1 && Math.abs(prev[1] - y) < 1) return;
    k.points.push([x, y, prev ? Math.max(t, prev[2]) : t]);
    drawSegment(prev, k.points[k.points.length - 1]);
    if (k.points.length >= MAX_POINTS_PER_STROKE) { // a very long scribble continues as a new stroke
      k.ended = true;
      beginStroke(ev);
    }
  }

  function endPointer() {
    if (pointer.stroke) { pointer.stroke.ended = true; saveSoon(); }
    pointer.id = null;
    pointer.type = null;
    pointer.stroke = null;
    flushStrokes();
  }

  pad.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    if (!game.drawing || !stage()) return;
    // One drawing pointer at a time: a second finger, a resting palm, a hand under the pen: no ink.
    // Only a pen coming down while a finger (maybe the side of the hand) draws takes over.
    if (pointer.id !== null && !(ev.pointerType === "pen" && pointer.type === "touch")) return;
    if (pointer.id !== null) endPointer();
    if (isPalm(ev)) return;
    if (ev.pointerType === "mouse" && ev.button !== 0) return;
    pointer.id = ev.pointerId;
    pointer.type = ev.pointerType;
    try { pad.setPointerCapture(ev.pointerId); } catch (_) { /* synthetic events */ }
    beginStroke(ev);
  });
  pad.addEventListener("pointermove", (ev) => {
    if (ev.pointerId !== pointer.id) return;
    ev.preventDefault();
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
    if (events.length) events.forEach(addPoint); else addPoint(ev);
  });
  const finish = (ev) => { if (ev.pointerId === pointer.id) { addPoint(ev); endPointer(); } };
  pad.addEventListener("pointerup", finish);
  pad.addEventListener("pointercancel", (ev) => { if (ev.pointerId === pointer.id) endPointer(); });
  pad.addEventListener("lostpointercapture", (ev) => { if (ev.pointerId === pointer.id) endPointer(); });
  pad.addEventListener("contextmenu", (ev) => ev.preventDefault());
  // No page scrolling, zooming or pull-to-refresh from the drawing area on any browser.
  document.addEventListener("touchmove", (ev) => { if (document.body.dataset.screen === "game") ev.preventDefault(); }, { passive: false });

  // ---------------------------------------------------------------- screens

  function showScreen(name) { document.body.dataset.screen = name; }

  function showGame() {
    if (document.body.dataset.screen !== "game") {
      showScreen("game");
      layoutPad();
    }
  }

  function name(t) { return LANG === "en" ? t.name_en : t.name_ko; }

  function renderTopic(topic, animate) {
    const box = $("#topic");
    box.dataset.label = topic.label;
    box.querySelector(".ko").textContent = LANG === "en" ? topic.name_en : topic.name_ko;
    box.querySelector(".en").textContent = LANG === "en" ? "" : topic.name_en;
    if (animate) { box.classList.remove("pop"); void box.offsetWidth; box.classList.add("pop"); }
  }

  function renderDots() {
    const dots = $("#dots");
    dots.textContent = "";
    for (let i = 0; i < game.stageCount; i++) {
      const s = game.stages[i];
      const d = el("i");
      if (i === game.current && game.drawing) d.className = "now";
      else if (s && s.outcome === "recognized") d.className = "recognized";
      else if (s && s.outcome) d.className = "missed";
      dots.appendChild(d);
    }
  }

  /** "새...? 고양이!": the robot's guesses so far, the newest last. */
  function renderBubble(fresh) {
    const s = stage();
    const box = $("#guessbox");
    const bubble = $("#bubble");
    bubble.textContent = "";
    if (!s || !s.history.length) { box.hidden = true; return; }
    box.hidden = false;
    const sure = s.outcome === "recognized";
    const shown = s.history.slice(-3);
    shown.forEach((g, i) => {
      const newest = i === shown.length - 1;
      const span = el("span", newest ? (sure ? "sure" : "") : "old");
      span.textContent = name(g) + (newest ? (sure ? "!" : "...?") : "...? ");
      bubble.appendChild(span);
    });
    bubble.dataset.top = shown[shown.length - 1].label;
    if (fresh) { bubble.classList.remove("fresh"); void bubble.offsetWidth; bubble.classList.add("fresh"); }
  }

  function showOverlay(s, outcome) {
    const o = $("#overlay");
    o.className = "overlay " + outcome;
    o.dataset.outcome = outcome;
    o.querySelector(".badge use").setAttribute("href", BADGES[outcome] || "#i-clock");
    o.querySelector(".ko").textContent = name(s.topic) + (outcome === "recognized" ? "!" : "");
    o.querySelector(".en").textContent = LANG === "en" ? "" : s.topic.name_en;
    renderThumb(o.querySelector(".thumb"), s);
    // Never a failure: a time-out praises the drawing and says what the robot thought it was.
    const thought = outcome === "recognized" ? null : robotThought(s);
    const t = o.querySelector(".thought");
    t.hidden = !thought;
    t.querySelector(".ko").textContent = thought ? name(thought) + "?" : "";
    t.querySelector(".en").textContent = thought && LANG !== "en" ? thought.name_en : "";
    o.dataset.thought = thought ? thought.label : "";
    o.hidden = false;
    const first = !s.announced;
    if (outcome === "recognized") { if (first) { confetti(); happySound(); } }
    else if (first) gentleSound();
    sayResult(s, outcome);
  }
  const BADGES = { recognized: "#i-star", timeout: "#i-heart", skipped: "#i-skip", abandoned: "#i-heart" };

  /** The robot's best guess for a stage that was not recognised (null if it had none). */
  function robotThought(s) {
    const g = (s.final && s.final[0]) || (s.guesses && s.guesses[0]) || (s.history.length && s.history[s.history.length - 1]);
    return g && g.label && g.label !== s.topic.label ? g : null;
  }
  function hideOverlay() { $("#overlay").hidden = true; stopConfetti(); }

  function renderThumb(canvas, s) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width;
    const h = canvas.clientHeight || canvas.height;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.fillStyle = "#fff";
    g.fillRect(0, 0, canvas.width, canvas.height);
    const pts = s.strokes.flatMap((k) => k.points);
    if (!pts.length) return;
    // Fit the drawing's own bounds (with a margin), so small doodles are still big in the card.
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
    for (const [x, y] of pts) { minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y); }
    const bw = Math.max(maxX - minX, 40), bh = Math.max(maxY - minY, 40);
    const scale = Math.min((w * 0.84) / bw, (h * 0.84) / bh);
    const ox = (w - bw * scale) / 2 - (minX - (bw - (maxX - minX)) / 2) * scale;
    const oy = (h - bh * scale) / 2 - (minY - (bh - (maxY - minY)) / 2) * scale;
    g.setTransform(dpr * scale, 0, 0, dpr * scale, dpr * ox, dpr * oy);
    drawStrokes(g, s.strokes, Math.max(2.5, 5 / scale));
  }

  function showGallery(msg) {
    hideOverlay();
    hideDetail();
    showScreen("gallery");
    const stars = $("#stars");
    stars.textContent = "";
    const count = game.stageCount || (msg.stages || []).length;
    for (let i = 0; i < count; i++) {
      const s = game.stages[i];
      const on = s && s.outcome === "recognized";
      stars.insertAdjacentHTML("beforeend", `<svg class="${on ? "" : "off"}" style="animation-delay:${i * 0.12}s"><use href="${on ? "#i-star" : "#i-star-empty"}"/></svg>`);
    }
    const cards = $("#cards");
    cards.textContent = "";
    for (let i = 0; i < count; i++) {
      const s = game.stages[i];
      if (!s) continue;
      const card = el("div", "gcard" + (s.outcome === "recognized" ? " recognized" : ""));
      card.dataset.label = s.topic.label;
      card.dataset.outcome = s.outcome || "";
      card.style.animationDelay = i * 0.1 + "s";
      card.insertAdjacentHTML("beforeend", `<svg class="mark"><use href="${s.outcome === "recognized" ? "#i-star" : "#i-star-empty"}"/></svg>`);
      const canvas = el("canvas");
      card.appendChild(canvas);
      const word = el("div", "word");
      word.appendChild(el("span", "ko", name(s.topic)));
      if (LANG !== "en") word.appendChild(el("span", "en", s.topic.name_en));
      card.appendChild(word);
      const thought = el("div", "thought");
      thought.insertAdjacentHTML("beforeend", '<svg><use href="#i-robot"/></svg>');
      const finals = (s.final && s.final.length ? s.final : s.guesses || []).slice(0, 3);
      finals.forEach((g, j) => {
        thought.appendChild(el("span", g.label === s.topic.label ? "hit" : "miss", name(g) + (j < finals.length - 1 ? "," : "")));
      });
      if (!finals.length) thought.appendChild(el("span", "miss", "?"));
      card.appendChild(thought);
      card.addEventListener("click", () => showDetail(s));
      cards.appendChild(card);
      renderThumb(canvas, s);
    }
  }

  // ---------------------------------------------------------------- one drawing, large

  /** Tapped in the gallery: the drawing large, the robot's top 3 (with how sure it was), and
   *  how three other children drew the same topic (server/static/examples/, Quick, Draw!). */
  function showDetail(s) {
    const d = $("#detail");
    d.hidden = false;
    d.dataset.label = s.topic.label;
    d.querySelector(".word .ko").textContent = name(s.topic);
    d.querySelector(".word .en").textContent = LANG === "en" ? "" : s.topic.name_en;
    renderThumb(d.querySelector(".big"), s);
    const list = d.querySelector(".guesses");
    list.textContent = "";
    const finals = (s.final && s.final.length ? s.final : s.guesses || []).slice(0, 3);
    for (const g of finals) {
      const span = el("span", g.label === s.topic.label ? "hit" : "miss", name(g));
      if (typeof g.p === "number") span.dataset.p = Math.round(g.p * 100) + "%";
      list.appendChild(span);
    }
    if (!finals.length) list.appendChild(el("span", "miss", "?"));
    const minis = d.querySelector(".minis");
    minis.textContent = "";
    const label = s.topic.label;
    fetch("examples/" + exampleSlug(label) + ".json")
      .then((r) => (r.ok ? r.json() : { drawings: [] }))
      .then((ex) => {
        if (d.hidden || d.dataset.label !== label) return; // closed, or another drawing now
        for (const drawing of (ex.drawings || []).slice(0, 3)) {
          const c = el("canvas", "mini");
          minis.appendChild(c);
          renderExample(c, drawing);
        }
      })
      .catch(() => { /* offline: the child's own drawing is what matters */ });
  }
  function hideDetail() { $("#detail").hidden = true; }
  $("#detail-close").addEventListener("click", (ev) => { ev.stopPropagation(); hideDetail(); });
  $("#detail").addEventListener("click", (ev) => { if (ev.target === $("#detail")) hideDetail(); });

  /** The examples' file name of a label (scripts/make_examples.py makes the same). */
  function exampleSlug(label) { return label.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, ""); }

  /** A drawing in Google's simplified format ([[xs], [ys]] per stroke, 0..255), fitted to `canvas`. */
  function renderExample(canvas, drawing) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 120, h = canvas.clientHeight || 120;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.fillStyle = "#fff";
    g.fillRect(0, 0, canvas.width, canvas.height);
    const scale = (Math.min(w, h) * 0.84) / 255;
    g.setTransform(dpr * scale, 0, 0, dpr * scale, dpr * (w - 255 * scale) / 2, dpr * (h - 255 * scale) / 2);
    drawStrokes(g, drawing.map(([xs, ys]) => ({ points: xs.map((x, i) => [x, ys[i]]) })), Math.max(2, 4 / scale));
  }

  // ---------------------------------------------------------------- start

  // One picture per category, never two alike: a child who cannot read tells them apart by it.
  // Codes are the bundled ones (models/categories.json) and a few likely ones from the Spring
  // service; an unknown code takes the first spare picture no other card on screen uses.
  const CATEGORY_ICONS = {
    animals: "🐱", sea: "🐙", birds_bugs: "🐞", fruit_veg: "🥕", food: "🍔", vehicles: "🚗",
    home: "🏠", clothes: "👕", nature: "🌦️", body: "🖐️", shapes: "🔺", music_play: "🥁",
    school: "✏️", town: "🏘️", kitchen_tools: "🍳",
    animal: "🐱", foods: "🍔", fruit: "🍓", fruits: "🍓", vegetables: "🥕", vehicle: "🚗",
    transport: "🚗", weather: "🌦️", objects: "🧸", things: "🧸", house: "🏠", music: "🎵",
    sports: "⚽", tools: "🔨", ocean: "🐙", space: "🚀", toys: "🧸", insects: "🐞",
    plants: "🌷", kitchen: "🍳",
  };
  const SPARE_ICONS = ["🌈", "⭐", "🎈", "🦄", "🐢", "🍩", "🪁", "🎁", "🌻", "🦖", "🚂", "🐳", "🍉", "🧩", "🎠"];

  /** The icon of each category code, distinct within `codes` (known ones first, then spares). */
  function categoryIcons(codes) {
    const icons = new Map();
    const used = new Set();
    for (const code of codes) {
      const icon = categoryIcon(code);
      if (icon && !used.has(icon)) { icons.set(code, icon); used.add(icon); }
    }
    const spares = SPARE_ICONS.concat(Object.values(CATEGORY_ICONS));
    for (const code of codes) {
      if (icons.has(code)) continue;
      // More categories than pictures: a number is still unlike every other card.
      const icon = spares.find((i) => !used.has(i)) || String(icons.size + 1);
      icons.set(code, icon);
      used.add(icon);
    }
    return icons;
  }

  /** A school names its own categories ("food-and-plants"): its first word picks the icon. */
  function categoryIcon(code) {
    return CATEGORY_ICONS[code] || CATEGORY_ICONS[String(code).split(/[-_ ]/)[0]] || "";
  }

  async function showStart(failed) {
    showScreen("start");
    $("#start-error").hidden = !failed;
    $("#start-error").textContent = failed ? "🙈" : "";
    if (PRESET_CATEGORY) {
      $("#categories").hidden = true;
      const play = $("#play");
      play.hidden = false;
      const icon = $("#preset-icon");
      icon.textContent = categoryIcons([PRESET_CATEGORY]).get(PRESET_CATEGORY);
      icon.hidden = !icon.textContent;
      play.onclick = () => startGame(PRESET_CATEGORY);
      return;
    }
    const list = $("#categories");
    list.textContent = "";
    let cats = [];
    try {
      const res = await fetch("/api/v1/categories", { cache: "no-store" });
      if (!res.ok) throw new Error(String(res.status));
      cats = await res.json();
    } catch (_) {
      setNet("reconnecting");
      setTimeout(() => { setNet("idle"); showStart(failed); }, 3000);
      return;
    }
    const icons = categoryIcons(cats.map((c) => c.code));
    cats.forEach((c) => {
      const b = el("button", "cat");
      b.setAttribute("role", "listitem");
      b.dataset.code = c.code;
      b.appendChild(el("span", "emoji", icons.get(c.code)));
      b.appendChild(el("span", "ko", LANG === "en" ? c.name_en : c.name_ko));
      if (LANG !== "en") b.appendChild(el("span", "en", c.name_en));
      // For the teacher beside the child: what this category will ask to draw.
      const topics = (c.playable_topics || []).map((t) => (LANG === "en" ? t.name_en : t.name_ko));
      if (topics.length) b.appendChild(el("span", "topics", topics.join(" · ")));
      b.onclick = () => startGame(c.code);
      list.appendChild(b);
    });
  }

  /** Full screen and no screen dimming while a child draws (both best effort). */
  function tabletMode() {
    const root = document.documentElement;
    if (!document.fullscreenElement && root.requestFullscreen) root.requestFullscreen({ navigationUI: "hide" }).catch(() => {});
    if (navigator.wakeLock && navigator.wakeLock.request) navigator.wakeLock.request("screen").catch(() => {});
  }

  function startGame(category) {
    unlockAudio();
    tabletMode();
    forgetSavedGame();
    game.category = category;
    game.token = null;
    game.stages = [];
    game.current = -1;
    game.lateStage = -1;
    game.over = false;
    game.drawing = false;
    showScreen("game");
    // The drawing area's CSS size at the start is the game's canvas (docs/protocol.md).
    const r = pad.getBoundingClientRect();
    game.canvas = { width: Math.max(1, Math.min(4096, Math.round(r.width))), height: Math.max(1, Math.min(4096, Math.round(r.height))) };
    layoutPad();
    $("#topic").dataset.label = "";
    $("#topic .ko").textContent = "";
    $("#topic .en").textContent = "";
    $("#guessbox").hidden = true;
    welcomed = false;
    net.wanted = true;
    net.attempt = 0;
    connect();
  }

  function resumeSaved(saved) {
    game.category = saved.category;
    game.canvas = saved.canvas;
    game.token = saved.token;
    game.gameId = saved.gameId;
    game.stages = (saved.stages || []).map((s) => s && Object.assign(newStageRecord(s.topic), {
      outcome: s.outcome, guesses: s.guesses || [], history: s.history || [], announced: !!s.announced,
      strokes: s.strokes.map((k) => ({ points: k.points, ended: true, sent: 0, endSent: false, acked: false })),
    }));
    game.current = saved.current;
    game.lateStage = saved.lateStage == null ? -1 : saved.lateStage;
    showScreen("game");
    layoutPad();
    net.wanted = true;
    setNet("reconnecting");
    connect();
  }

  $("#skip").addEventListener("click", () => {
    if (!game.drawing) return;
    endPointer();
    send({ type: "skip", stage: game.current });
  });
  $("#speak").addEventListener("click", () => { const s = stage(); if (s) sayTopic(s.topic); });
  $("#again").addEventListener("click", () => {
    if (game.category && !PRESET_CATEGORY) startGame(game.category); else showStart(false);
  });

  // ---------------------------------------------------------------- voice and sound

  // One line at a time, by rank: the topic is always heard whole first (a new topic starts
  // afresh); a result (win or not) waits for the topic but cuts a guess short; guesses never
  // cut anything: while something is being said only the newest guess waits, and it is said
  // only if it is still news. Guesses are questions ("고양이일까?"): only the server's
  // stage_result says the drawing was recognised, so the voice never claims a win the score
  // does not give (whatever recognition rule the server plays by).
  const voice = { current: null, pending: null, watchdog: 0 };

  function utter(line) {
    if (!("speechSynthesis" in window) || !line.text) return;
    let u;
    try {
      u = new SpeechSynthesisUtterance(line.text);
      u.lang = LANG === "en" ? "en-US" : "ko-KR";
      u.rate = 0.9;
      u.pitch = 1.15;
      const v = speechSynthesis.getVoices().find((x) => x.lang && x.lang.replace("_", "-").startsWith(u.lang.slice(0, 2)));
      if (v) u.voice = v;
    } catch (_) { return; /* no voice: the word is on screen */ }
    const done = () => {
      if (voice.current !== line) return; // an older line, cancelled
      clearTimeout(voice.watchdog);
      voice.current = null;
      const next = voice.pending;
      voice.pending = null;
      if (next && (!next.still || next.still())) utter(next);
    };
    u.onend = done;
    u.onerror = done;
    line.u = u;
    voice.current = line;
    // A speech engine that never reports the end must not leave the robot mute for good: once
    // it says it is no longer speaking (or after far longer than any line), the line is over.
    clearTimeout(voice.watchdog);
    const since = performance.now();
    const watch = () => {
      let speaking = true;
      try { speaking = speechSynthesis.speaking || speechSynthesis.pending; } catch (_) { speaking = false; }
      if (!speaking && performance.now() - since > 1500) done();
      else if (performance.now() - since > 30000) done();
      else voice.watchdog = setTimeout(watch, 1000);
    };
    voice.watchdog = setTimeout(watch, 1000);
    try { speechSynthesis.speak(u); } catch (_) { done(); }
  }
  function hush() {
    voice.current = null;
    voice.pending = null;
    clearTimeout(voice.watchdog);
    try { speechSynthesis.cancel(); } catch (_) { /* ignore */ }
  }
  function speakLine(line) {
    const now = voice.current;
    if (line.kind === "topic") { hush(); utter(line); return; }
    if (line.kind === "result") {
      if (now && now.kind !== "guess") { voice.pending = line; return; } // after the topic
      hush();
      utter(line);
      return;
    }
    // a guess
    if (now) { if (!voice.pending || voice.pending.kind === "guess") voice.pending = line; return; }
    utter(line);
  }

  /** 을/를 by whether the last syllable has a final consonant. */
  function objectParticle(word) {
    const c = word.charCodeAt(word.length - 1);
    if (c < 0xac00 || c > 0xd7a3) return "를";
    return (c - 0xac00) % 28 ? "을" : "를";
  }
  function sayTopic(t) {
    speakLine({ kind: "topic", text: LANG === "en" ? `Draw ${t.name_en}!` : `${t.name_ko}${objectParticle(t.name_ko)} 그려 볼까요?` });
  }
  /** "고양이일까?" / "Is it a cat?": a question, never the answer (see `voice`). */
  function sayGuess(g, stageIndex) {
    const en = `Is it ${/^[aeiou]/i.test(g.name_en) ? "an" : "a"} ${g.name_en}?`;
    speakLine({
      kind: "guess", text: LANG === "en" ? en : `${g.name_ko}일까?`,
      // Still news when it is said: the stage still running, and still the robot's best guess.
      still: () => {
        const s = game.stages[stageIndex];
        return game.drawing && game.current === stageIndex && s && s.history.length && s.history[s.history.length - 1].label === g.label;
      },
    });
  }
  function sayResult(s, outcome) {
    if (s.announced) return; // said once per stage, not again after a reload
    s.announced = true;
    const t = s.topic;
    const g = outcome === "timeout" ? robotThought(s) : null;
    const text = outcome === "recognized"
      ? (LANG === "en" ? `I know! It's ${t.name_en}!` : `알았다! ${t.name_ko}!`)
      : outcome === "timeout"
        ? (g ? (LANG === "en" ? `What a lovely drawing! I thought it was ${/^[aeiou]/i.test(g.name_en) ? "an" : "a"} ${g.name_en}!`
                             : `멋진 그림이에요! 나는 ${g.name_ko}인 줄 알았어요!`)
             : (LANG === "en" ? "What a lovely drawing! Let's draw the next one!" : "멋진 그림이에요! 다음 그림도 그려 볼까요?"))
        : (LANG === "en" ? "Good try! Next one!" : "잘했어요! 다음 그림!");
    speakLine({ kind: "result", text });
  }

  let audio = null;
  function unlockAudio() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
    } catch (_) { audio = null; }
  }
  function tone(freq, start, dur, type, gain) {
    if (!audio) return;
    const t = audio.currentTime + start;
    const o = audio.createOscillator();
    const v = audio.createGain();
    o.type = type || "sine";
    o.frequency.setValueAtTime(freq, t);
    v.gain.setValueAtTime(0, t);
    v.gain.linearRampToValueAtTime(gain || 0.18, t + 0.02);
    v.gain.exponentialRampToValueAtTime(0.0001, t + dur);
    o.connect(v).connect(audio.destination);
    o.start(t);
    o.stop(t + dur + 0.05);
  }
  function happySound() { [523.3, 659.3, 784, 1046.5].forEach((f, i) => tone(f, i * 0.09, 0.35, "triangle")); }
  function gentleSound() { tone(440, 0, 0.5, "sine", 0.12); tone(349.2, 0.25, 0.7, "sine", 0.12); }

  // ---------------------------------------------------------------- confetti

  let confettiRun = 0;
  function confetti() {
    const c = $("#confetti");
    const r = c.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    c.width = r.width * dpr;
    c.height = r.height * dpr;
    const g = c.getContext("2d");
    const colors = ["#e53935", "#fdd835", "#43a047", "#1e88e5", "#8e24aa", "#fb8c00", "#ec407a"];
    const bits = Array.from({ length: 140 }, () => ({
      x: r.width / 2 + (Math.random() - 0.5) * 80, y: r.height * 0.45,
      vx: (Math.random() - 0.5) * 16, vy: -Math.random() * 15 - 5,
      w: 8 + Math.random() * 10, h: 6 + Math.random() * 8, a: Math.random() * 6, va: (Math.random() - 0.5) * 0.4,
      color: colors[Math.floor(Math.random() * colors.length)],
    }));
    const run = ++confettiRun;
    const started = performance.now();
    const frame = (now) => {
      if (run !== confettiRun) return;
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, r.width, r.height);
      for (const b of bits) {
        b.vy += 0.35; b.vx *= 0.99; b.x += b.vx; b.y += b.vy; b.a += b.va;
        g.save(); g.translate(b.x, b.y); g.rotate(b.a); g.fillStyle = b.color; g.fillRect(-b.w / 2, -b.h / 2, b.w, b.h); g.restore();
      }
      if (now - started < 4000) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }
  function stopConfetti() {
    confettiRun++;
    const c = $("#confetti");
    c.getContext("2d").clearRect(0, 0, c.width, c.height);
  }

  // ---------------------------------------------------------------- time bar

  function tick() {
    const s = stage();
    const fill = $("#timefill");
    if (s && game.drawing) {
      const left = Math.max(0, s.deadline - performance.now());
      const frac = Math.min(1, left / s.total);
      fill.style.transform = `scaleX(${frac})`;
      fill.classList.toggle("mid", frac <= 0.5 && frac > 0.2);
      fill.classList.toggle("low", frac <= 0.2);
      document.body.dataset.timeLeft = String(Math.round(frac * 100));
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);

  // ---------------------------------------------------------------- test hooks

  /** Read-only views and a network switch for the browser tests (tests/browser/). */
  window.doodle = {
    game,
    strokes: (i) => {
      const s = game.stages[i == null ? game.current : i];
      return s ? s.strokes.map((k) => ({ points: k.points.length, ended: k.ended, xy: k.points.map((p) => [p[0], p[1]]) })) : [];
    },
    received: () => game.lastReceived,
    messages: () => net.log.slice(),
    connected: () => !!(net.ws && net.ws.readyState === WebSocket.OPEN && document.body.dataset.net === "online"),
    /** Cut the line: close the socket and refuse to reconnect until restore(). */
    cut: () => { net.blockedForTest = true; dropSocket(); },
    /** Lose the game's events on the current socket from now on, as when a server's pub/sub
     * missed them (its pongs still come, so the heartbeat sees a live line). */
    deafen: () => { net.deafSocket = net.ws; },
    restore: () => { net.blockedForTest = false; clearTimeout(net.timer); net.timer = 0; net.attempt = 0; if (!net.ws) connect(); },
  };

  // ---------------------------------------------------------------- boot

  const saved = loadSavedGame();
  if (saved && (!PRESET_CATEGORY || PRESET_CATEGORY === saved.category)) resumeSaved(saved);
  else showStart(false);
})();
