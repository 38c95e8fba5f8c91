// Doodle Quest teacher page: sign in with a teacher token, open a class, watch its tablets live.
// The token lives in sessionStorage (this tab only); every call sends it as a Bearer token.
(() => {
  "use strict";
  const TOKEN_KEY = "dq.teacher.token";
  const ROOM_KEY = "dq.teacher.room";
  const THUMB_W = 320, THUMB_H = 240;
  const $ = (sel) => document.querySelector(sel);
  const state = { token: sessionStorage.getItem(TOKEN_KEY), room: null, socket: null, tiles: new Map(),
    round: null, roundTimer: 0, clockOffsetMs: 0, galleryScope: "last" };

  function show(screen) { document.body.dataset.screen = screen; }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function api(method, path, body) {
    const r = await fetch(path, {
      method,
      headers: { "Authorization": `Bearer ${state.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (r.status === 401) { signOut("Your teacher token is not valid (any more)."); throw new Error("unauthorized"); }
    if (!r.ok) {
      let detail = `${r.status}`;
      try { const j = await r.json(); detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch (_) { /* not JSON */ }
      throw new Error(detail);
    }
    return r.status === 204 ? null : r;
  }

  function showError(id, message) {
    const node = $(id);
    node.textContent = message;
    node.hidden = !message;
  }

  // ---------------------------------------------------------------- sign in / out

  $("#signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    state.token = ev.target.token.value.trim();
    try {
      await api("GET", "/api/v1/teacher/me");
      sessionStorage.setItem(TOKEN_KEY, state.token);
      showError("#signin-error", "");
      await showClasses();
    } catch (e) {
      if (e.message !== "unauthorized") showError("#signin-error", e.message);
    }
  });

  function signOut(message) {
    closeSocket();
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(ROOM_KEY);
    state.token = null;
    show("signin");
    showError("#signin-error", message || "");
  }
  $("#signout").addEventListener("click", () => signOut());

  // ---------------------------------------------------------------- classes

  async function showClasses() {
    closeSocket();
    sessionStorage.removeItem(ROOM_KEY);
    show("classes");
    const select = $("#open-form").category;
    if (!select.options.length) {
      const cats = await (await fetch("/api/v1/categories")).json();
      for (const c of cats) {
        const o = el("option", "", `${c.name_ko} · ${c.name_en}`);
        o.value = c.code;
        select.appendChild(o);
      }
    }
    const list = $("#class-list");
    list.replaceChildren();
    const rooms = await (await api("GET", "/api/v1/teacher/classes")).json();
    for (const room of rooms) {
      const li = el("li");
      li.dataset.code = room.code;
      li.append(el("span", "code", room.code), el("span", "meta", `${room.name} · ${room.category} · ${room.age_band || ""}`));
      const open = el("button", "primary", "Show");
      open.onclick = () => showRoom(room);
      li.append(open);
      list.appendChild(li);
    }
  }

  $("#open-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    try {
      const r = await api("POST", "/api/v1/teacher/classes",
        { name: f.name.value.trim(), category: f.category.value, age_band: f.age_band.value,
          // empty: the age band's numbers (the server's measured defaults)
          time_limit_s: f.time_limit_s.value ? Number(f.time_limit_s.value) : null,
          stages: f.stages.value ? Number(f.stages.value) : null });
      showError("#open-error", "");
      await showRoom(await r.json());
    } catch (e) {
      if (e.message !== "unauthorized") showError("#open-error", e.message);
    }
  });

  // ---------------------------------------------------------------- one class

  async function showRoom(room) {
    state.room = room;
    sessionStorage.setItem(ROOM_KEY, room.code);
    state.tiles.clear();
    $("#tiles").replaceChildren();
    $("#room-name").textContent = `${room.name} · ${room.category}${room.age_band ? " · " + room.age_band : ""}`;
    $("#join-code").textContent = room.code;
    const url = new URL(room.join_path || `/?class=${room.code}`, location.href).href;
    $("#join-url").textContent = url;
    updateCount();
    show("room");
    const svg = await (await api("GET", `/api/v1/teacher/classes/${encodeURIComponent(room.code)}/qr.svg`)).text();
    // The SVG is ours (segno, from our own URL), not user input.
    $("#qr").innerHTML = svg;
    setRound(null);
    watch(room.code);
    await loadTopics(room.code);
  }

  // ---------------------------------------------------------------- the class round

  async function loadTopics(code) {
    const select = $("#round-topic");
    while (select.options.length > 1) select.remove(1);
    const topics = await (await api("GET", `/api/v1/teacher/classes/${encodeURIComponent(code)}/topics`)).json();
    for (const t of topics) {
      const o = el("option", "", `${t.name_ko} · ${t.name_en}`);
      o.value = t.label;
      select.appendChild(o);
    }
  }

  // The server's clock decides the deadline; the page only shows how long is left.
  function serverNow() { return Date.now() + state.clockOffsetMs; }

  function setRound(round) {
    state.round = round;
    clearInterval(state.roundTimer);
    const running = !!(round && round.running && round.deadline_ms > serverNow());
    $("#round-bar").dataset.state = running ? "running" : "idle";
    $("#round-banner").dataset.state = running ? "running" : (round ? "ended" : "idle");
    if (round) $("#round-banner").dataset.roundId = round.round_id;
    document.body.dataset.round = running ? "running" : "idle";
    if (!running) return;
    $("#round-topic-name").textContent = `✏️ ${round.topic.name_ko} · ${round.topic.name_en}`;
    const tick = () => {
      const left = Math.max(0, Math.ceil((round.deadline_ms - serverNow()) / 1000));
      $("#round-clock").textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      if (left <= 0) setRound({ ...round, running: false }); // time's up on every tablet too
    };
    tick();
    state.roundTimer = setInterval(tick, 250);
  }

  $("#round-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!state.room) return;
    const topic = $("#round-topic").value || null;
    try {
      const r = await api("POST", `/api/v1/teacher/classes/${encodeURIComponent(state.room.code)}/round`, { topic });
      const body = await r.json();
      state.clockOffsetMs = body.round.started_at_ms - Date.now(); // just started: a fair clock
      showError("#round-error", "");
      $("#round-count").textContent = `${body.started} tablets drawing`;
      setRound(body.round);
    } catch (e) {
      if (e.message !== "unauthorized") showError("#round-error", e.message);
    }
  });

  $("#round-end").addEventListener("click", async () => {
    if (!state.room) return;
    try {
      const r = await api("DELETE", `/api/v1/teacher/classes/${encodeURIComponent(state.room.code)}/round`);
      const body = await r.json();
      showError("#round-error", "");
      setRound(body.round);
      await showGallery("last"); // the round's drawings, straight to the projector
    } catch (e) {
      if (e.message !== "unauthorized") { showError("#round-error", e.message); setRound(null); }
    }
  });

  // ---------------------------------------------------------------- the gallery

  $("#show-gallery").addEventListener("click", () => showGallery(state.round ? "last" : "session"));
  $("#gallery-back").addEventListener("click", () => show("room"));
  $("#gallery-round").addEventListener("click", () => showGallery("last"));
  $("#gallery-session").addEventListener("click", () => showGallery("session"));
  $("#gallery-download").addEventListener("click", () => downloadSheet());

  function galleryQuery(scope) { return scope === "last" ? "?round=last" : ""; }

  async function showGallery(scope) {
    if (!state.room) return;
    state.galleryScope = scope;
    $("#gallery-round").setAttribute("aria-pressed", String(scope === "last"));
    $("#gallery-session").setAttribute("aria-pressed", String(scope !== "last"));
    $("#gallery-round").disabled = !state.round;
    const code = encodeURIComponent(state.room.code);
    const view = await (await api("GET", `/api/v1/teacher/classes/${code}/gallery${galleryQuery(scope)}`)).json();
    const topic = scope === "last" && state.round ? ` · ${state.round.topic.name_ko} · ${state.round.topic.name_en}` : "";
    $("#gallery-title").textContent = `${state.room.name}${topic} · ${view.count} drawings`;
    const groups = $("#gallery-groups");
    groups.replaceChildren();
    $("#gallery-empty").hidden = view.count > 0;
    for (const g of view.groups) {
      const section = el("section", "gallery-group");
      section.dataset.topic = g.topic.label;
      section.append(el("h2", "", `${g.topic.name_ko} · ${g.topic.name_en}`));
      const grid = el("div", "gallery-grid");
      for (const d of g.drawings) grid.append(drawingCard(d));
      section.append(grid);
      groups.append(section);
    }
    show("gallery");
    document.body.dataset.galleryCount = String(view.count);
  }

  function drawingCard(d) {
    const card = el("article", "drawing");
    card.dataset.seat = d.seat;
    card.dataset.recognized = String(!!d.recognized);
    const canvas = el("canvas");
    canvas.width = 400;
    canvas.height = 300;
    const ctx = canvas.getContext("2d");
    // Framed to its ink, not to the tablet's canvas: a small drawing in a corner fills its card
    // on the projector (never enlarged more than 3x: a dot stays a dot).
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const xy of d.strokes) {
      for (let i = 0; i + 1 < xy.length; i += 2) {
        x0 = Math.min(x0, xy[i]); x1 = Math.max(x1, xy[i]);
        y0 = Math.min(y0, xy[i + 1]); y1 = Math.max(y1, xy[i + 1]);
      }
    }
    const [cw, ch] = d.canvas || [800, 600];
    if (x0 === Infinity) [x0, y0, x1, y1] = [0, 0, cw, ch];
    const w = Math.max(x1 - x0, 1), h = Math.max(y1 - y0, 1);
    const fit = Math.min((canvas.width - 40) / w, (canvas.height - 40) / h);
    const scale = Math.min(fit, 3 * Math.min(canvas.width / cw, canvas.height / ch));
    const ox = (canvas.width - w * scale) / 2 - x0 * scale, oy = (canvas.height - h * scale) / 2 - y0 * scale;
    ctx.strokeStyle = "#1a1a2e";
    ctx.lineWidth = 4;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const xy of d.strokes) {
      if (!xy.length) continue;
      ctx.beginPath();
      ctx.moveTo(ox + xy[0] * scale, oy + xy[1] * scale);
      for (let i = 2; i + 1 < xy.length; i += 2) ctx.lineTo(ox + xy[i] * scale, oy + xy[i + 1] * scale);
      if (xy.length === 2) ctx.lineTo(ox + xy[0] * scale + 0.1, oy + xy[1] * scale); // a dot
      ctx.stroke();
    }
    const guess = d.guess ? `🤖 ${d.recognized ? "" : "maybe "}${d.guess.name_ko} · ${d.guess.name_en}${d.recognized ? "!" : "?"}` : "🤖 …";
    card.append(canvas, el("div", "who", `${d.avatar} #${d.seat}`), el("div", "guess", guess));
    return card;
  }

  async function downloadSheet() {
    if (!state.room) return;
    const code = encodeURIComponent(state.room.code);
    // The sheet needs the teacher token: fetched here, handed to the browser as a file.
    const blob = await (await api("GET", `/api/v1/teacher/classes/${code}/gallery.png${galleryQuery(state.galleryScope)}`)).blob();
    const a = el("a");
    a.href = URL.createObjectURL(blob);
    a.download = `gallery-${state.room.code}.png`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    document.body.dataset.downloaded = String(blob.size);
  }

  $("#back").addEventListener("click", () => showClasses());
  $("#close-class").addEventListener("click", async () => {
    if (!state.room || !confirm(`Close class ${state.room.code}? Its tablets stop playing.`)) return;
    await api("DELETE", `/api/v1/teacher/classes/${encodeURIComponent(state.room.code)}`);
    await showClasses();
  });

  function setStatus(kind, text) {
    const node = $("#room-status");
    node.dataset.state = kind;
    node.textContent = text;
  }

  function closeSocket() {
    if (state.socket) { state.socket.onclose = null; state.socket.close(); state.socket = null; }
  }

  function watch(code) {
    closeSocket();
    setStatus("connecting", "connecting…");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${proto}//${location.host}/ws/teacher`);
    state.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: "watch", token: state.token, code }));
    socket.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "roster") {
        setStatus("live", "live");
        for (const tile of msg.tiles) updateTile(tile, true);
        if (msg.round && msg.round.running) setRound(msg.round);
      } else if (msg.type === "round" || msg.type === "round_ended") {
        setRound(msg.round); // started or ended from another page of this teacher
      } else if (msg.type === "tiles") {
        for (const tile of msg.tiles) updateTile(tile);
      } else if (msg.type === "class_closed") {
        setStatus("lost", "class closed");
      } else if (msg.type === "error") {
        setStatus("lost", msg.message);
      }
    };
    socket.onclose = () => {
      if (state.socket !== socket) return;
      setStatus("lost", "reconnecting…");
      setTimeout(() => { if (state.socket === socket && state.room) watch(state.room.code); }, 2000);
    };
  }

  function updateCount() {
    const n = state.tiles.size;
    const live = [...state.tiles.values()].filter((t) => t.data.connected).length;
    $("#tablet-count").textContent = `${live} / ${n} tablets connected (max ${state.room ? state.room.max_tablets || 40 : 40})`;
  }

  function tileNode(seat) {
    let tile = state.tiles.get(seat);
    if (tile) return tile;
    const node = el("article", "tile");
    node.dataset.seat = seat;
    const who = el("div", "who");
    const canvas = el("canvas");
    canvas.width = THUMB_W;
    canvas.height = THUMB_H;
    node.append(who, canvas, el("div", "topic"), el("div", "progress"));
    tile = { node, canvas, ctx: canvas.getContext("2d"), last: new Map(), data: {} };
    state.tiles.set(seat, tile);
    // keep tiles in seat order
    const after = [...$("#tiles").children].find((n) => Number(n.dataset.seat) > seat);
    $("#tiles").insertBefore(node, after || null);
    return tile;
  }

  // Tiles of one tablet may come from two server processes (the tablet's, and the one that
  // started a class round or fired a deadline), so they can arrive out of order: a tile older
  // than the one shown (an earlier stage start, or the same stage at a lower version) changes
  // nothing but its ink, and a reset of the stage already shown keeps that stage's ink.
  function isOlder(data, shown) {
    if (data.stage_started_at_ms == null || shown.stage_started_at_ms == null) return false;
    if (data.stage_started_at_ms !== shown.stage_started_at_ms) {
      return data.stage_started_at_ms < shown.stage_started_at_ms;
    }
    return data.version < shown.version;
  }

  function updateTile(data, snapshot = false) {
    const tile = tileNode(data.seat);
    if (!snapshot && isOlder(data, tile.data)) {
      if (data.stage_started_at_ms === tile.data.stage_started_at_ms) drawInk(tile, { ...data, reset: false });
      return;
    }
    tile.data = { ...tile.data, ...data };
    const d = tile.data;
    const n = tile.node;
    n.dataset.connected = String(!!d.connected);
    n.dataset.phase = d.phase;
    n.dataset.round = String(!!(state.round && state.round.running && d.topic && d.phase === "drawing"
      && d.topic.label === state.round.topic.label && d.deadline_ms === state.round.deadline_ms));
    const stateText = d.phase === "joined" ? "joined" : d.phase === "finished" ? "done"
      : d.connected ? "connected" : "dropped";
    const who = n.querySelector(".who");
    who.replaceChildren(el("span", "avatar", d.avatar), el("span", "seat", `#${d.seat}`), el("span", "state", stateText));
    n.querySelector(".topic").textContent = d.topic ? `${d.topic.ko} · ${d.topic.en}` : "";
    n.querySelector(".progress").textContent = d.stages
      ? `stage ${Math.min(d.stage + 1, d.stages)}/${d.stages} · ★ ${d.recognized}` : "";
    n.querySelector(".progress").dataset.recognized = d.recognized || 0;
    drawInk(tile, data, snapshot);
    updateCount();
  }

  function drawInk(tile, data, snapshot = false) {
    const ctx = tile.ctx;
    // a snapshot brings the whole drawing again; another reset only a new stage's
    if (data.reset && (snapshot || tile.inkStage !== data.stage_started_at_ms)) {
      ctx.clearRect(0, 0, THUMB_W, THUMB_H);
      tile.last.clear();
      delete tile.node.dataset.inkTopic;
    }
    if (data.stage_started_at_ms != null) tile.inkStage = data.stage_started_at_ms;
    if (!data.ink || !data.ink.length) return;
    const [w, h] = tile.data.canvas || [800, 600];
    const scale = Math.min(THUMB_W / w, THUMB_H / h);
    ctx.strokeStyle = "#1a1a2e";
    ctx.lineWidth = 3;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const [stroke, xy] of data.ink) {
      ctx.beginPath();
      let prev = tile.last.get(stroke); // a stroke continues where its last chunk ended
      if (prev) ctx.moveTo(prev[0] * scale, prev[1] * scale);
      for (let i = 0; i + 1 < xy.length; i += 2) {
        if (!prev && i === 0) ctx.moveTo(xy[0] * scale, xy[1] * scale);
        ctx.lineTo(xy[i] * scale, xy[i + 1] * scale);
      }
      if (xy.length === 2 && !prev) ctx.lineTo(xy[0] * scale + 0.1, xy[1] * scale); // a dot
      ctx.stroke();
      if (xy.length >= 2) tile.last.set(stroke, [xy[xy.length - 2], xy[xy.length - 1]]);
    }
    tile.node.dataset.inked = "true";
    if (tile.data.topic) tile.node.dataset.inkTopic = tile.data.topic.label; // what the ink shows
  }

  // ---------------------------------------------------------------- start

  (async () => {
    if (!state.token) { show("signin"); return; }
    try {
      await api("GET", "/api/v1/teacher/me");
      const code = sessionStorage.getItem(ROOM_KEY);
      if (code) {
        try { await showRoom(await (await api("GET", `/api/v1/teacher/classes/${code}`)).json()); return; }
        catch (_) { /* closed since: show the list */ }
      }
      await showClasses();
    } catch (_) { /* signOut already showed why */ }
  })();
})();
