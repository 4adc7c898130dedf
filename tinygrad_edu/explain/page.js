// The explain page: draws the graph the framework recorded and replays its backward pass.
// Every number shown comes from the embedded data (written by tinygrad_edu.explain from the
// engine's own backward); nothing here computes a gradient.
"use strict";
const DATA = JSON.parse(document.getElementById("graph-data").textContent);
const CELL_W = 196, CELL_H = 100, NODE_W = 158, NODE_H = 66, PAD = 24;
const SVG_NS = "http://www.w3.org/2000/svg";
const state = {expanded: new Set(), selected: null, step: -1};

// ---- where a node's gradient becomes known: its own step, or (a leaf) the last step sending to it
const lastSend = DATA.nodes.map(() => -1);
DATA.steps.forEach((step, k) => step.sends.forEach(s => { if (s.grad) lastSend[s.to] = k; }));
const gradKnownAt = DATA.nodes.map((node, n) => node.step !== undefined ? node.step : lastSend[n]);

// ---- placement: the same arithmetic as tinygrad_edu/explain/layout.py's place()
function place(expanded) {
  const L = DATA.layout;
  const size = (kind, i) => (kind === "group" && expanded.has(i))
    ? [L.inner[i].width, L.inner[i].height] : [1, 1];
  const byLayer = new Map();
  for (const [kind, i, layer, pos] of L.units) {
    if (!byLayer.has(layer)) byLayer.set(layer, []);
    byLayer.get(layer).push([pos, kind, i]);
  }
  const layers = [...byLayer.keys()].sort((a, b) => a - b);
  const column = {}, widths = {}, heights = {};
  let x = 0;
  for (const layer of layers) {
    const row = byLayer.get(layer).sort((a, b) => a[0] - b[0]);
    column[layer] = x;
    widths[layer] = Math.max(...row.map(r => size(r[1], r[2])[0]));
    heights[layer] = row.reduce((sum, r) => sum + size(r[1], r[2])[1], 0);
    x += widths[layer];
  }
  const tallest = Math.max(0, ...Object.values(heights));
  const units = new Map();
  for (const layer of layers) {
    let y = (tallest - heights[layer]) / 2;
    for (const [, kind, i] of byLayer.get(layer)) {
      const [w, h] = size(kind, i);
      units.set(kind + i, [column[layer] + (widths[layer] - w) / 2, y, w, h]);
      y += h;
    }
  }
  const nodes = DATA.nodes.map((node, n) => {
    const inGroup = node.group !== null;
    const [ux, uy] = units.get(inGroup ? "group" + node.group : "node" + n);
    if (inGroup && expanded.has(node.group)) {
      const [layer, row] = L.inner[node.group].nodes[n];
      return [ux + layer, uy + row, 1, 1];
    }
    return [ux, uy, 1, 1];
  });
  return {units, nodes, width: x, height: tallest};
}

// ---- formatting numbers and arrays
function fmt(x) {
  if (typeof x === "string") return x;          // NaN, Infinity as written by Python
  if (Number.isInteger(x) && Math.abs(x) < 1e9) return String(x);
  return String(Number(x.toPrecision(5)));
}
function fmtValues(v, depth = 0) {
  if (!Array.isArray(v)) return fmt(v);
  if (v.length && Array.isArray(v[0])) {
    const pad = " ".repeat(depth + 1);
    return "[" + v.map((row, i) => (i ? pad : "") + fmtValues(row, depth + 1)).join(",\n") + "]";
  }
  return "[" + v.map(fmt).join(", ") + "]";
}
const shapeText = s => "(" + s.shape.join(", ") + (s.shape.length === 1 ? ",)" : ")");
const isScalar = s => s && s.values !== undefined && !Array.isArray(s.values);

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function svgEl(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// A summary (from summarize() in data.py) as HTML: values in full, or statistics and a histogram.
function summaryBlock(s, role) {
  const box = el("div", {"class": "summary", "data-role": role});
  if (!s) { box.append(el("span", {"class": "hint"}, "none")); return box; }
  box.append(el("div", {"class": "hint"}, shapeText(s) + " " + s.dtype));
  if (s.values !== undefined) {
    box.append(el("pre", {"class": "values"}, fmtValues(s.values)));
    return box;
  }
  const table = el("table", {"class": "stats"});
  for (const key of ["min", "max", "mean", "std", "zeros", "nan", "inf"]) {
    if (s.stats[key] === undefined || ((key === "nan" || key === "inf") && !s.stats[key])) continue;
    const tr = el("tr", {"data-stat": key});
    tr.append(el("td", {}, key), el("td", {"class": "num"}, fmt(s.stats[key])));
    table.append(tr);
  }
  box.append(table);
  if (s.hist) {
    const W = 220, H = 42, most = Math.max(...s.hist, 1), bw = W / s.hist.length;
    const svg = svgEl("svg", {"class": "hist", width: W, height: H + 14});
    s.hist.forEach((c, i) => svg.append(svgEl("rect", {
      x: i * bw + 0.5, width: bw - 1, y: H - H * c / most, height: H * c / most})));
    svg.append(svgEl("text", {x: 0, y: H + 12}, fmt(s.stats.min)),
               svgEl("text", {x: W, y: H + 12, "text-anchor": "end"}, fmt(s.stats.max)));
    box.append(svg);
  }
  return box;
}

// ---- drawing the graph
function visibleOf(n) {
  const g = DATA.nodes[n].group;
  return (g !== null && !state.expanded.has(g)) ? "group" + g : "node" + n;
}
function nodeTitle(node) { return node.name ? node.name : node.op; }

function render() {
  const at = place(state.expanded);
  const svg = document.getElementById("canvas");
  svg.replaceChildren();
  svg.setAttribute("width", at.width * CELL_W + 2 * PAD);
  svg.setAttribute("height", at.height * CELL_H + 2 * PAD);
  const defs = svgEl("defs");
  for (const [id, color] of [["arrow", "#9aa3af"], ["arrow-flow", "#d1495b"]]) {
    const m = svgEl("marker", {id, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7,
                               markerHeight: 7, orient: "auto"});
    m.append(svgEl("path", {d: "M0,0 L10,5 L0,10 z", fill: color}));
    defs.append(m);
  }
  svg.append(defs);
  const box = ([x, y]) => [PAD + x * CELL_W + (CELL_W - NODE_W) / 2, PAD + y * CELL_H + (CELL_H - NODE_H) / 2];
  const step = state.step >= 0 ? DATA.steps[state.step] : null;
  const positions = new Map();       // visible key -> [x, y] of its box
  for (const [key, u] of at.units) if (key.startsWith("group")) positions.set(key, box(u));
  at.nodes.forEach((p, n) => { if (visibleOf(n) === "node" + n) positions.set("node" + n, box(p)); });

  // expanded groups: a frame with a clickable head
  for (const [key, [x, y, w, h]] of at.units) {
    const g = key.startsWith("group") ? Number(key.slice(5)) : null;
    if (g === null || !state.expanded.has(g)) continue;
    const [bx, by] = box([x, y]);
    svg.append(svgEl("rect", {"class": "group-frame", x: bx - 10, y: by - 24, rx: 8,
      width: (w - 1) * CELL_W + NODE_W + 20, height: (h - 1) * CELL_H + NODE_H + 34}));
    const head = svgEl("g", {"class": "group-head", "data-group": g});
    head.append(svgEl("rect", {x: bx - 10, y: by - 24, width: NODE_W + 20, height: 18, fill: "transparent"}));
    head.append(svgEl("text", {x: bx - 2, y: by - 11}, "▾ " + DATA.groups[g].label));
    head.addEventListener("click", () => { state.expanded.delete(g); render(); });
    svg.append(head);
  }

  // edges, merged where a collapsed group hides their ends
  const flowing = new Map();   // "src>dst" -> gradient sent along it in the current step
  if (step) for (const s of step.sends) flowing.set(visibleOf(s.to) + ">" + visibleOf(step.node), s);
  const drawn = new Set();
  for (const [src, dst] of DATA.edges) {
    const a = visibleOf(src), b = visibleOf(dst), key = a + ">" + b;
    if (a === b || drawn.has(key)) continue;
    drawn.add(key);
    const [x1, y1] = positions.get(a), [x2, y2] = positions.get(b);
    const sx = x1 + NODE_W, sy = y1 + NODE_H / 2, ex = x2, ey = y2 + NODE_H / 2, mx = (sx + ex) / 2;
    const flow = flowing.get(key);
    svg.append(svgEl("path", {"class": flow ? "edge flow" : "edge", "data-edge": key,
      d: `M${sx},${sy} C${mx},${sy} ${mx},${ey} ${ex},${ey}`,
      "marker-end": flow ? "url(#arrow-flow)" : "url(#arrow)"}));
    if (flow && isScalar(flow.grad))
      svg.append(svgEl("text", {"class": "edge-label", x: mx, y: (sy + ey) / 2 - 4,
                                "text-anchor": "middle"}, fmt(flow.grad.values)));
  }

  // collapsed groups
  for (const [key] of at.units) {
    if (!key.startsWith("group") || state.expanded.has(Number(key.slice(5)))) continue;
    const g = Number(key.slice(5)), [x, y] = positions.get(key);
    const members = DATA.nodes.map((node, n) => n).filter(n => DATA.nodes[n].group === g);
    const output = members.find(n => DATA.edges.some(([s, d]) => s === n && DATA.nodes[d].group !== g))
      ?? members[members.length - 1];
    const active = step && DATA.nodes[step.node].group === g;
    const item = svgEl("g", {"class": "group-box" + (active ? " active" : ""), "data-group": g});
    item.append(svgEl("rect", {x: x + 4, y: y + 4, width: NODE_W, height: NODE_H, rx: 7, "class": "second"}),
                svgEl("rect", {x, y, width: NODE_W, height: NODE_H, rx: 7}),
                svgEl("text", {x: x + 8, y: y + 18, "class": "op"}, "▸ " + DATA.groups[g].label),
                svgEl("text", {x: x + 8, y: y + 35, "class": "shape"}, shapeText(DATA.nodes[output].value)),
                svgEl("text", {x: x + 8, y: y + 52, "class": "shape"},
                      DATA.groups[g].size + " nodes · click to open"));
    item.addEventListener("click", () => { state.expanded.add(g); render(); });
    svg.append(item);
  }

  // nodes
  at.nodes.forEach((p, n) => {
    if (visibleOf(n) !== "node" + n) return;
    const node = DATA.nodes[n], [x, y] = positions.get("node" + n);
    const cls = ["node", node.kind];
    if (n === 0) cls.push("loss");
    if (state.selected === n) cls.push("selected");
    if (step && step.node === n) cls.push("active");
    else if (step && step.sends.some(s => s.to === n && s.grad)) cls.push("receiving");
    else if (gradKnownAt[n] >= 0 && gradKnownAt[n] <= state.step) cls.push("done");
    const item = svgEl("g", {"class": cls.join(" "), "data-node": n});
    item.append(svgEl("rect", {x, y, width: NODE_W, height: NODE_H, rx: 5}),
                svgEl("text", {x: x + 8, y: y + 17, "class": "op"}, nodeTitle(node)),
                svgEl("text", {x: x + 8, y: y + 33, "class": "shape"},
                      (node.name ? node.op + " " : "") + shapeText(node.value)));
    if (isScalar(node.value))
      item.append(svgEl("text", {x: x + 8, y: y + 49, "class": "value"}, "= " + fmt(node.value.values)));
    if (node.grad && gradKnownAt[n] >= 0 && gradKnownAt[n] <= state.step) {
      const text = isScalar(node.grad) ? "∂L = " + fmt(node.grad.values) : "∂L ✓ " + shapeText(node.grad);
      item.append(svgEl("text", {x: x + 8, y: y + 62, "class": "grad"}, text));
    }
    item.addEventListener("click", () => { state.selected = n; render(); });
    svg.append(item);
  });
  renderSide();
}

// ---- the side panel: the current backward step and the selected node
function renderSide() {
  const n = DATA.steps.length, k = state.step;
  document.getElementById("back").disabled = k < 0;
  document.getElementById("reset").disabled = k < 0;
  document.getElementById("next").disabled = k >= n - 1;
  document.getElementById("end").disabled = k >= n - 1;
  const status = document.getElementById("status");
  const panel = document.getElementById("step-panel");
  panel.replaceChildren();
  if (k < 0) {
    status.textContent = `forward done; ${n} backward steps to go`;
    panel.append(el("p", {"class": "hint"}, "Press step ▶ (or →) to run backward one node at a " +
      "time, in the order the engine runs it. It starts at the output with gradient 1."));
  } else {
    const step = DATA.steps[k], node = DATA.nodes[step.node];
    status.textContent = `step ${k + 1} of ${n}: backward of ${nodeTitle(node)}`;
    panel.append(el("h2", {}, `Step ${k + 1} of ${n}: ${nodeTitle(node)} (${node.op})`));
    panel.append(el("h3", {}, "upstream gradient ∂L/∂out"), summaryBlock(step.upstream, "upstream"));
    panel.append(el("h3", {}, "local derivative"), el("pre", {"class": "rule"}, node.rule));
    const sends = el("ul", {"class": "sends", id: "step-sends"});
    step.sends.forEach((s, slot) => {
      const to = DATA.nodes[s.to];
      const li = el("li", {"data-to": s.to, "data-slot": s.slot});
      li.append(el("b", {}, `input ${s.slot}: ${nodeTitle(to)}`));
      if (step.local && step.local[slot] && isScalar(step.local[slot]))
        li.append(el("div", {"class": "local"}, "∂out/∂input = " + fmt(step.local[slot].values)));
      li.append(el("div", {"class": "hint"}, "gradient sent:"), summaryBlock(s.grad, "sent"));
      sends.append(li);
    });
    panel.append(el("h3", {}, "gradients sent to the inputs"), sends);
  }
  const side = document.getElementById("node-panel");
  side.replaceChildren();
  if (state.selected === null) {
    side.append(el("p", {"class": "hint"}, "Click a node to see its value, its gradient and " +
      "the derivative rule of its operation. Click a layer to open it."));
    return;
  }
  const node = DATA.nodes[state.selected];
  side.append(el("h2", {}, `${nodeTitle(node)}: ${node.op}`));
  if (node.module) side.append(el("div", {"class": "hint"}, "made by " + node.module));
  side.append(el("h3", {}, "forward value"), summaryBlock(node.value, "value"));
  const known = gradKnownAt[state.selected] >= 0 && gradKnownAt[state.selected] <= k;
  side.append(el("h3", {}, "gradient ∂L/∂" + nodeTitle(node) + (node.accumulated ? " (accumulated)" : "")));
  if (!node.requires_grad) side.append(el("div", {"class": "hint"}, "needs no gradient"));
  else {
    const at = gradKnownAt[state.selected];
    if (!known) side.append(el("div", {"class": "hint", "data-role": "grad-pending"},
      at >= 0 ? `after backward (step ${at + 1} of ${n} computes it):` : "none reached it"));
    side.append(summaryBlock(node.grad, "grad"));
  }
  side.append(el("h3", {}, node.kind === "op" ? "derivative rule" : "leaf"),
              el("pre", {"class": "rule"}, node.rule));
}

function go(k) {
  state.step = Math.max(-1, Math.min(DATA.steps.length - 1, k));
  render();
  const active = document.querySelector(".node.active, .group-box.active");
  if (active) active.scrollIntoView({block: "nearest", inline: "nearest"});
}

document.getElementById("title").textContent = DATA.title;
document.title = DATA.title;
document.getElementById("next").addEventListener("click", () => go(state.step + 1));
document.getElementById("back").addEventListener("click", () => go(state.step - 1));
document.getElementById("reset").addEventListener("click", () => go(-1));
document.getElementById("end").addEventListener("click", () => go(DATA.steps.length - 1));
document.getElementById("expand").addEventListener("click", () => {
  DATA.groups.forEach((g, i) => state.expanded.add(i)); render(); });
document.getElementById("collapse").addEventListener("click", () => { state.expanded.clear(); render(); });
document.addEventListener("keydown", e => {
  if (e.key === "ArrowRight") go(state.step + 1);
  if (e.key === "ArrowLeft") go(state.step - 1);
});
render();
document.documentElement.dataset.renderedMs = performance.now().toFixed(1);
