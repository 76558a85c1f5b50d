// The dashboard's only script: live counters and charts from server-sent events.
// No framework and no build step; served by the hub itself so the console works offline.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  // Numbers as the server writes them (babel): 1.234 and 1,5 % in Vietnamese.
  const LOCALE = document.documentElement.lang === "vi" ? "vi-VN" : "en-GB";
  const INT = new Intl.NumberFormat(LOCALE);
  const PCT = new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  function n(v) { return INT.format(v); }

  function drawBars(svg, values) {
    if (!svg) return;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const max = Math.max(1, ...values);
    const w = 600 / values.length;
    values.forEach(function (v, i) {
      const h = Math.round((v / max) * 100);
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", String(i * w + 1));
      rect.setAttribute("y", String(110 - h));
      rect.setAttribute("width", String(Math.max(1, w - 2)));
      rect.setAttribute("height", String(h));
      const title = document.createElementNS(SVG, "title");
      title.textContent = String(v);
      rect.appendChild(title);
      svg.appendChild(rect);
    });
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", "598");
    label.setAttribute("y", "10");
    label.setAttribute("text-anchor", "end");
    label.textContent = (svg.dataset.maxLabel || "{n}").replace("{n}", n(max));
    svg.appendChild(label);
  }

  function setLive(key, value) {
    const el = document.querySelector('[data-live="' + CSS.escape(key) + '"]');
    if (el && el.textContent !== String(value)) {
      el.textContent = String(value);
      el.classList.add("changed");
      setTimeout(function () { el.classList.remove("changed"); }, 800);
    }
  }

  function render(snap) {
    setLive("packages", n(snap.packages));
    setLive("dead", n(snap.dead));
    if (snap.alarms !== null) setLive("alarms", n(snap.alarms));
    setLive("refusal_rate", PCT.format(snap.refusal_rate * 100) + " %");
    ["queued", "available", "failed"].forEach(function (s) {
      setLive("state-" + s, n(snap.states[s] || 0));
    });
    snap.agencies.forEach(function (a) {
      setLive("backlog-" + a.organ_id, n(a.backlog));
      setLive("unacked-" + a.organ_id, n(a.unacked));
      setLive("dead-" + a.organ_id, n(a.dead));
    });
    drawBars(document.getElementById("chart-accepted"), snap.accepted);
    drawBars(document.getElementById("chart-refused"), snap.refused);
    document.body.dataset.updated = String(Date.now());
  }

  function start() {
    const initial = document.getElementById("snapshot");
    if (!initial) return; // only the overview is live
    render(JSON.parse(initial.textContent));
    const dot = document.getElementById("live-dot");
    const source = new EventSource("/dashboard/events");
    source.addEventListener("snapshot", function (ev) {
      if (dot) dot.classList.remove("offline");
      render(JSON.parse(ev.data));
    });
    source.onerror = function () { if (dot) dot.classList.add("offline"); };
  }

  // "Select all" for the dead-letter list (a convenience: without the script each row is
  // ticked by hand, and the confirm page works the same).
  function selectAll() {
    const slot = document.querySelector(".select-all-slot");
    if (!slot) return;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = "select-all";
    box.setAttribute("aria-label", slot.dataset.label || "");
    box.title = slot.dataset.label || "";
    box.addEventListener("change", function () {
      document.querySelectorAll('input[name="key"]').forEach(function (c) { c.checked = box.checked; });
    });
    slot.appendChild(box);
  }

  document.addEventListener("DOMContentLoaded", function () { start(); selectAll(); });
})();
