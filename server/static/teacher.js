// Doodle Quest teacher page: sign in with a teacher token, open a class, watch its tablets live.
// The token lives in sessionStorage (this tab only); every call sends it as a Bearer token.
(() => {
  "use strict";
  const TOKEN_KEY = "dq.teacher.token";
  const ROOM_KEY = "dq.teacher.room";
  const THUMB_W = 320, THUMB_H = 240;
  const $ = (sel) => document.querySelector(sel);
  const state = { token: sessionStorage.getItem(TOKEN_KEY), room: null, socket: null, tiles: new Map() };

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
        { name: f.name.value.trim(), category: f.category.value, age_band: f.age_band.value });
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
    watch(room.code);
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
        for (const tile of msg.tiles) updateTile(tile);
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

  function updateTile(data) {
    const tile = tileNode(data.seat);
    tile.data = { ...tile.data, ...data };
    const d = tile.data;
    const n = tile.node;
    n.dataset.connected = String(!!d.connected);
    n.dataset.phase = d.phase;
    const stateText = d.phase === "joined" ? "joined" : d.phase === "finished" ? "done"
      : d.connected ? "connected" : "dropped";
    const who = n.querySelector(".who");
    who.replaceChildren(el("span", "avatar", d.avatar), el("span", "seat", `#${d.seat}`), el("span", "state", stateText));
    n.querySelector(".topic").textContent = d.topic ? `${d.topic.ko} · ${d.topic.en}` : "";
    n.querySelector(".progress").textContent = d.stages
      ? `stage ${Math.min(d.stage + 1, d.stages)}/${d.stages} · ★ ${d.recognized}` : "";
    n.querySelector(".progress").dataset.recognized = d.recognized || 0;
    drawInk(tile, data);
    updateCount();
  }

  function drawInk(tile, data) {
    const ctx = tile.ctx;
    if (data.reset) {
      ctx.clearRect(0, 0, THUMB_W, THUMB_H);
      tile.last.clear();
    }
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
