// The explorer page: asks /v1/explore once per model, then redraws from that answer
// when the layer slider moves. No build step; Plotly is vendored next to this file.
"use strict";

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const $ = (sel, root = document) => root.querySelector(sel);

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("#key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function call(path, body) {
  const r = await fetch(path, body === undefined ? { headers: headers() }
    : { method: "POST", headers: headers(), body: JSON.stringify(body) });
  const data = await r.json();
  if (!r.ok) throw new Error(data.error ? data.error.message : r.statusText);
  return data;
}

function escape(s) {
  return s.replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}

function hover(use) {  // the sentence, the word in bold, wrapped for the tooltip
  const t = use.text;
  const s = escape(t.slice(0, use.start)) + "<b>" + escape(t.slice(use.start, use.end)) +
            "</b>" + escape(t.slice(use.end));
  return s.replace(/(.{60,}?)\s/g, "$1<br>");
}

function draw(panel) {
  const data = panel.data;
  if (!data) return;
  const layer = Number($(".layer", panel.el).value);
  const at = data.layers[layer];
  $(".layer-name", panel.el).textContent = layer === 0 ? "0 (input)" : String(layer);
  const traces = at.senses.map(s => {
    const idx = at.labels.map((l, i) => (l === s.label ? i : -1)).filter(i => i >= 0);
    return {
      type: "scatter", mode: "markers",
      x: idx.map(i => at.points[i][0]), y: idx.map(i => at.points[i][1]),
      text: idx.map(i => hover(data.uses[i])), hoverinfo: "text",
      name: `sense ${s.label} (${s.size}): ${s.neighbours.slice(0, 4).join(", ") || "-"}`,
      marker: { size: 11, color: COLOURS[s.label % COLOURS.length], opacity: 0.8 },
    };
  });
  Plotly.react(panel.plot, traces, {
    title: { text: `'${escape(data.word)}' in ${escape(data.model)}: ${at.senses.length} sense(s)`,
             font: { size: 13 } },
    margin: { l: 30, r: 10, t: 40, b: 30 }, showlegend: true,
    legend: { orientation: "h", y: -0.12 }, xaxis: { zeroline: false }, yaxis: { zeroline: false },
  }, { displaylogo: false, responsive: true });
  $(".senses", panel.el).innerHTML = at.senses.map(s =>
    `<div><b style="color:${COLOURS[s.label % COLOURS.length]}">sense ${s.label}</b> ` +
    `(${s.size} uses): ${escape(s.neighbours.join(", ") || "-")}</div>`).join("");
  panel.el.dataset.senses = String(at.senses.length);
}

async function explore(panels) {
  const texts = $("#texts").value.split("\n").map(t => t.trim()).filter(Boolean);
  const word = $("#word").value.trim();
  const status = $("#status");
  status.className = ""; status.textContent = "embedding...";
  try {
    await Promise.all(panels.map(async panel => {
      const model = $(".model", panel.el).value;
      if (!model) return;
      panel.data = await call("v1/explore", {
        model, word, texts, projection: $("#projection").value,
      });
      const slider = $(".layer", panel.el);
      slider.max = String(panel.data.layers.length - 1);
      slider.value = slider.max;  // the top layer first
      draw(panel);
    }));
    status.textContent = "";
    document.body.dataset.ready = "1";
  } catch (e) {
    status.className = "error"; status.textContent = e.message;
  }
}

async function loadModels(panels) {  // again after a 401, once a key is typed
  const models = (await call("v1/models")).data;
  panels.forEach((panel, k) => {
    const select = $(".model", panel.el);
    select.innerHTML = models.map(m =>
      `<option value="${escape(m.id)}">${escape(m.id)} (${escape(m.family)}, ${m.layers} layer${m.layers > 1 ? "s" : ""})</option>`
    ).join("");
    // static on the left, contextual on the right when the server has both
    const pick = models.find(m => (k === 0) !== m.contextual) || models[k % models.length];
    select.value = pick.id;
  });
}

async function main() {
  const panels = ["a", "b"].map(id => ({ el: $("#panel-" + id), plot: $("#plot-" + id) }));
  panels.forEach(panel => {
    $(".layer", panel.el).addEventListener("input", () => draw(panel));
    $(".model", panel.el).addEventListener("change", () => explore([panel]));
  });
  $("#go").addEventListener("click", async () => {
    if (!$(".model", panels[0].el).options.length) {
      try { await loadModels(panels); } catch (e) {
        $("#status").className = "error"; $("#status").textContent = e.message; return;
      }
    }
    explore(panels);
  });
  try { await loadModels(panels); } catch (e) {
    $("#status").className = "error"; $("#status").textContent = e.message;
  }
}

main();
