// lanlobby status page: draws the coordinator's state from the "status"
// server-sent events of /events. Every update carries the whole view, so
// the page keeps no state of its own but when each lobby first appeared
// (data-shown-at, which tests read). Text from the network (lobby and
// player names) is only ever set with textContent, never parsed as HTML.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const shownAt = new Map(); // lobby id -> Date.now() when first drawn
  const page = { updates: 0, version: -1 };
  window.lanlobbyStatus = page;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function ms(v) { return v > 0 ? (v < 10 ? v.toFixed(2) : v.toFixed(1)) + " ms" : "–"; }
  function hostOf(m) {
    if (m.remote) return m.remote;
    const a = m.addr || "";
    const i = a.lastIndexOf(":");
    return (i > 0 ? a.slice(0, i) : a).replace(/^\[|\]$/g, "");
  }
  function set(id, v) { document.getElementById(id).textContent = v; }

  function drawSummary(v) {
    set("name", v.name || "");
    set("connections", v.connections);
    set("members", v.members);
    set("away", v.away);
    for (const s of ["open", "full", "started"]) set(s, (v.by_state && v.by_state[s]) || 0);
    set("more", v.more > 0 ? "(" + v.more + " more not shown)" : "");
  }

  function drawLobbies(v) {
    const box = document.getElementById("lobbies");
    box.replaceChildren();
    const now = Date.now();
    const live = new Set();
    if (!v.lobbies.length) box.append(el("p", { class: "empty" }, "no lobbies"));
    for (const l of v.lobbies) {
      live.add(l.id);
      if (!shownAt.has(l.id)) shownAt.set(l.id, now);
      const card = el("div", { class: "lobby-card", "data-lobby": l.id, "data-shown-at": String(shownAt.get(l.id)) });
      const h = el("h3");
      h.append(el("span", { class: "lobby-name" }, l.name), el("span", { class: "state " + l.state }, l.state),
        el("span", { class: "meta" }, l.game + " · " + l.players + "/" + l.capacity + " players · id " + l.id + (l.private ? " · private" : "")));
      card.append(h);
      const t = el("table");
      const head = el("tr");
      for (const c of ["player", "member id", "game address", "link from", "RTT", "state"]) head.append(el("th", {}, c));
      t.append(head);
      for (const m of l.members) {
        const tr = el("tr", { "data-member": m.id, class: m.state });
        const who = (m.name || "(no name)") + (m.id === l.owner ? " ★" : "");
        tr.append(el("td", {}, who), el("td", {}, m.id), el("td", {}, m.addr), el("td", {}, m.remote || "–"),
          el("td", { class: "rtt" }, ms(m.rtt_ms)), el("td", {}, m.state === "away" ? "away (" + m.reason + ")" : "here"));
        t.append(tr);
      }
      card.append(t);
      box.append(card);
    }
    for (const id of [...shownAt.keys()]) if (!live.has(id)) shownAt.delete(id);
  }

  // drawNetwork: the coordinator in the middle, lobbies on an inner ring,
  // hosts (one per address members connect from) on an outer ring; a line
  // from the coordinator to each host is its TCP link (labelled with the
  // best RTT of its members), a line from a host to a lobby is a member.
  function drawNetwork(v) {
    const net = document.getElementById("net");
    net.replaceChildren();
    const W = 720, H = 380, cx = W / 2, cy = H / 2;
    const hosts = new Map();
    for (const l of v.lobbies) for (const m of l.members) {
      const k = hostOf(m);
      if (!hosts.has(k)) hosts.set(k, { rtt: 0, names: [], away: true });
      const h = hosts.get(k);
      h.names.push(m.name || m.id);
      if (m.state !== "away") h.away = false;
      if (m.rtt_ms > 0 && (h.rtt === 0 || m.rtt_ms < h.rtt)) h.rtt = m.rtt_ms;
    }
    const hostList = [...hosts.keys()].slice(0, 48);
    const lobbyList = v.lobbies.slice(0, 24);
    const at = (i, n, rx, ry, phase) => {
      const a = phase + (2 * Math.PI * i) / Math.max(n, 1);
      return [cx + rx * Math.cos(a), cy + ry * Math.sin(a)];
    };
    const hostPos = new Map(hostList.map((k, i) => [k, at(i, hostList.length, 300, 150, -Math.PI / 2)]));
    const lobbyPos = new Map(lobbyList.map((l, i) => [l.id, at(i, lobbyList.length, 140, 70, -Math.PI / 2 + 0.3)]));
    const edges = svg("g"), nodes = svg("g");
    net.append(edges, nodes);
    for (const k of hostList) {
      const [x, y] = hostPos.get(k), h = hosts.get(k);
      edges.append(svg("line", { class: "edge link" + (h.away ? " away" : ""), x1: cx, y1: cy, x2: x, y2: y }));
      edges.append(svg("text", { class: "dim", x: (cx + x) / 2 + 4, y: (cy + y) / 2 - 4 }, ms(h.rtt)));
    }
    for (const l of lobbyList) {
      const [lx, ly] = lobbyPos.get(l.id);
      for (const m of l.members) {
        const p = hostPos.get(hostOf(m));
        if (p) edges.append(svg("line", { class: "edge" + (m.state === "away" ? " away" : ""), x1: lx, y1: ly, x2: p[0], y2: p[1] }));
      }
    }
    nodes.append(svg("circle", { class: "coord", cx: cx, cy: cy, r: 16 }));
    nodes.append(svg("text", { x: cx - 32, y: cy + 30 }, "coordinator"));
    for (const l of lobbyList) {
      const [x, y] = lobbyPos.get(l.id);
      nodes.append(svg("rect", { class: "lobby", x: x - 8, y: y - 8, width: 16, height: 16, rx: 3, "data-net-lobby": l.id }));
      nodes.append(svg("text", { x: x + 11, y: y + 4 }, l.name + " " + l.players + "/" + l.capacity));
    }
    for (const k of hostList) {
      const [x, y] = hostPos.get(k), h = hosts.get(k);
      nodes.append(svg("circle", { class: "host", cx: x, cy: y, r: 9, "data-net-host": k }));
      nodes.append(svg("text", { x: x + 12, y: y - 2 }, k));
      nodes.append(svg("text", { class: "dim", x: x + 12, y: y + 11 }, h.names.slice(0, 3).join(", ") + (h.names.length > 3 ? " …" : "")));
    }
  }

  function draw(v) {
    drawSummary(v);
    drawLobbies(v);
    drawNetwork(v);
    page.updates++;
    page.version = v.version;
  }

  const live = document.getElementById("live");
  const es = new EventSource("/events");
  es.addEventListener("status", (e) => draw(JSON.parse(e.data)));
  es.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  es.onerror = () => { live.textContent = "reconnecting…"; live.className = "live off"; };
})();
