"""The status page of `engine serve` (`GET /`): one HTML document with its style and script inline.

The script polls `GET /v1/syncs` every second (the session cookie authenticates it) and redraws: one card
per sync with its status, destination, times, the last success of that destination, records, errors,
and one progress bar per stream. A bar's filled share is the stream's coverage (its completed time
ranges over its total range, as the terminal view computes it: `engine.progress_model.coverage`), colored
by state: running blue, complete green, failed or running with errors red, skipped by the source grey
(never red: the engine's `failed` flag says which ended streams failed); the page is redrawn only when the
answer changed. Values are inserted as text, never as HTML. Element ids and `data-*` attributes
(`data-status`, `data-coverage`) let a browser test find what it checks on the screenshot.
"""
from __future__ import annotations

from html import escape

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #212121; background: #fafafa; }
h1 { font-size: 18px; margin: 0 0 12px; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; margin: 0 0 12px; }
.head { display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; }
.id { font-family: monospace; font-weight: 600; }
.badge { color: #fff; border-radius: 10px; padding: 1px 9px; font-size: 12px; }
.badge.running, .badge.cancelling { background: #1565c0; }
.badge.succeeded { background: #2e7d32; }
.badge.failed { background: #c62828; }
.badge.partial, .badge.cancelled { background: #ef6c00; }
.meta { color: #616161; font-size: 12px; }
table { border-collapse: collapse; margin-top: 6px; }
td { padding: 2px 8px 2px 0; white-space: nowrap; }
.bar { width: 240px; height: 14px; background: #e0e0e0; border-radius: 3px; overflow: hidden; }
.fill { height: 100%; width: 0; background: #1565c0; }
.fill.complete { background: #2e7d32; }
.fill.error { background: #c62828; }
.fill.skipped { background: #9e9e9e; }
.errors { color: #c62828; margin: 6px 0 0; padding-left: 18px; }
.empty { color: #616161; }
"""

SCRIPT = r"""
const TERMINAL = new Set(["complete", "skipped"]);
function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function coverage(s) {
  const total = s.total_range;
  if (!total) return s.status === "complete" ? 1 : 0;
  const length = total.lt - total.gte;
  if (length <= 0) return 1;
  let done = 0;
  for (const r of s.completed_ranges || []) {
    done += Math.max(0, Math.min(r.lt, total.lt) - Math.max(r.gte, total.gte));
  }
  return Math.min(1, done / length);
}
function when(iso) { return iso ? iso.replace("T", " ").replace("Z", " UTC") : "-"; }
function card(sync) {
  const box = el("div", {class: "card", id: "sync-" + sync.id, "data-status": sync.status});
  const head = el("div", {class: "head"});
  head.append(el("span", {class: "id"}, sync.id),
              el("span", {class: "badge " + sync.status, id: "status-" + sync.id}, sync.status),
              el("span", {}, "schema " + (sync.destination.schema || "?")
                             + (sync.follow ? " (follow)" : "")));
  const p = sync.progress || {};
  head.append(el("span", {class: "meta"}, (p.record_count || 0).toLocaleString() + " records"));
  box.append(head);
  box.append(el("div", {class: "meta"}, "started " + when(sync.created_at) + " - ended " + when(sync.ended_at)
                + " - last success " + when(sync.last_success_at)));
  const streams = Object.entries(p.streams || {});
  if (streams.length) {
    const table = el("table");
    for (const [name, s] of streams) {
      const share = coverage(s);
      // red: failed (the engine's `failed`), or running with errors; a stream its source skipped is grey
      const erring = s.failed || (!TERMINAL.has(s.status) && (s.errors || []).length);
      const state = erring ? "error" : (TERMINAL.has(s.status) ? s.status : "running");
      const row = el("tr", {id: "stream-" + sync.id + "-" + name});
      const bar = el("div", {class: "bar", id: "bar-" + sync.id + "-" + name,
                              "data-coverage": share.toFixed(4), "data-state": state});
      const fill = el("div", {class: "fill " + state});
      fill.style.width = (share * 100).toFixed(2) + "%";
      bar.append(fill);
      const cell = el("td");
      cell.append(bar);
      row.append(el("td", {}, name), cell, el("td", {}, s.status),
                 el("td", {}, (s.record_count || 0).toLocaleString()));
      table.append(row);
    }
    box.append(table);
  }
  const errors = sync.errors || [];
  if (errors.length) {
    const list = el("ul", {class: "errors", id: "errors-" + sync.id});
    for (const e of errors.slice(-5)) {
      list.append(el("li", {}, "[" + e.code + "] " + (e.stream ? e.stream + ": " : "") + e.message));
    }
    box.append(list);
  }
  return box;
}
let shown = null;
async function refresh() {
  try {
    const answer = await fetch("/v1/syncs", {credentials: "same-origin", cache: "no-store"});
    if (answer.status === 401) { location.reload(); return; }
    const text = await answer.text();
    if (text !== shown) {  // redraw only what changed
      shown = text;
      const data = JSON.parse(text).data;
      document.getElementById("syncs").replaceChildren(
        ...(data.length ? data.map(card) : [el("p", {class: "empty"}, "No syncs yet.")]));
    }
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.setAttribute("data-refreshes", String(Number(document.body.dataset.refreshes || 0) + 1));
  } catch (e) {
    document.getElementById("updated").textContent = "cannot reach the server: " + e;
  }
}
refresh();
setInterval(refresh, 1000);
"""


def _document(title: str, body: str, script: str = "") -> str:
    tag = f'<script nonce="{{nonce}}">{script}</script>' if script else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<style nonce="{{nonce}}">{STYLE}</style></head><body>{body}{tag}</body></html>')


def status() -> str:
    return _document("stripe-sync", '<h1>stripe-sync <span class="meta" id="updated"></span></h1>'
                                    '<div id="syncs"></div>', SCRIPT)


def login(message: str = "") -> str:
    note = f'<p class="errors">{escape(message)}</p>' if message else ""
    return _document("stripe-sync: sign in", '<h1>stripe-sync</h1><div class="card"><form method="post" '
                     'action="/login"><p>The API token of this server (STRIPE_SYNC_API_TOKEN):</p>'
                     '<input type="password" name="token" autocomplete="current-password" size="40" '
                     'autofocus> '
                     f'<button type="submit">Open the status page</button></form>{note}</div>')
