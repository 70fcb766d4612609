// The moderator's console: batch upload, one card per file as its answer arrives,
// filter and sort, export through the service (the CLI's own CSV / JSON Lines writer).

import { createCard, setThumbnail, showError, showPending, showRecord, thumbnail, VERDICTS } from "./cards.js";

const TOKEN_KEY = "synthmark.token"; // sessionStorage: this tab only, gone when it closes
const BUSY_RETRIES = 5;
const $ = (id) => document.getElementById(id);

const page = document.body.dataset;
const state = {
  cards: [],
  queue: [],
  active: 0,
  concurrency: Math.max(1, Number.parseInt(page.concurrency, 10) || 4),
  thumbs: [],
  thumbsActive: 0,
  batchStart: null,
  lastBatchSeconds: null,
  nextId: 1,
};

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function authHeaders() {
  const value = token();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

// ---- tokens -----------------------------------------------------------------------------

function showTokenState(message) {
  $("token-state").textContent = message || (token()
    ? "A token is set for this tab (kept until the tab closes)."
    : page.auth === "required" ? "This service needs an API token." : "No token needed.");
}

function setupToken() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    $("token").value = "";
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    showTokenState();
    const refused = state.cards.filter((c) => c.state === "error" && c.status401);
    refused.forEach(requeue);
  });
  $("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
  });
  showTokenState();
}

// ---- uploads ----------------------------------------------------------------------------

function startBatch() {
  if (!state.queue.length && !state.active) {
    state.batchStart = performance.now();
    state.lastBatchSeconds = null;
  }
}

function addFiles(files) {
  const list = Array.from(files || []);
  if (!list.length) return;
  startBatch();
  const results = $("results");
  for (const file of list) {
    const card = createCard(state.nextId++, file);
    state.cards.push(card);
    results.append(card.root);
    showPending(card, "Waiting to upload");
    state.queue.push(card);
    state.thumbs.push(card);
  }
  applyView();
  pump();
  pumpThumbs();
}

function requeue(card) {
  card.status401 = false;
  card.attempts = 0;
  startBatch();
  showPending(card, "Waiting to upload");
  state.queue.push(card);
  applyView();
  pump();
}

function pump() {
  while (state.active < state.concurrency && state.queue.length) {
    const card = state.queue.shift();
    state.active += 1;
    screen(card).finally(() => {
      state.active -= 1;
      progress();
      applyView();
      pump();
    });
  }
  progress();
}

async function pumpThumbs() {
  // Two at a time: decoding many large images at once would make the page stutter.
  while (state.thumbsActive < 2 && state.thumbs.length) {
    const card = state.thumbs.shift();
    state.thumbsActive += 1;
    thumbnail(card.file)
      .then((url) => setThumbnail(card, url), () => setThumbnail(card, null))
      .finally(() => {
        state.thumbsActive -= 1;
        pumpThumbs();
      });
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function screen(card) {
  showPending(card, "Screening…");
  const body = new FormData();
  body.append("file", card.file, card.file.name);
  let response;
  let text;
  try {
    response = await fetch("/v1/screen", {
      method: "POST", body, headers: authHeaders(), cache: "no-store", credentials: "same-origin",
    });
    text = await response.text();
  } catch (err) {
    showError(card, `The service did not answer (${err.message || err}).`, { retry: () => requeue(card) });
    return;
  }
  let record = null;
  try {
    record = JSON.parse(text);
  } catch {
    record = null;
  }
  if (response.ok && record && typeof record.verdict === "string") {
    showRecord(card, record, text);
    return;
  }
  const message = (record && typeof record.error === "string" && record.error) || `HTTP ${response.status}`;
  if (response.status === 503 && (card.attempts || 0) < BUSY_RETRIES) {
    card.attempts = (card.attempts || 0) + 1;
    const wait = Math.min(10, Number.parseFloat(response.headers.get("Retry-After")) || 1);
    showPending(card, `The service is busy; trying again in ${wait} s`);
    await sleep(wait * 1000);
    return screen(card);
  }
  if (response.status === 401) {
    card.status401 = true;
    showError(card, `${message}: enter the API token above; refused files are then sent again.`,
      { retry: () => requeue(card) });
    if (document.activeElement === document.body) $("token").focus();
    return;
  }
  // A per-file answer (unreadable, too large, too slow): kept for export as the CLI would.
  const errorRecord = record && typeof record.path === "string" ? record : { path: card.file.name, error: message };
  const errorText = record && typeof record.path === "string" ? text : JSON.stringify(errorRecord);
  const retry = response.status >= 500 ? () => requeue(card) : null;
  showError(card, message, { record: errorRecord, text: errorText, retry });
}

// ---- progress, filter, sort -------------------------------------------------------------

function progress() {
  const total = state.cards.length;
  const waiting = state.cards.filter((c) => c.state === "pending").length;
  const done = total - waiting;
  const bar = $("progress");
  bar.max = Math.max(1, total);
  bar.value = done;
  const counts = {};
  for (const card of state.cards) counts[card.state] = (counts[card.state] || 0) + 1;
  const parts = Object.keys(VERDICTS).filter((v) => counts[v]).map(
    (v) => `${counts[v]} ${VERDICTS[v].label.toLowerCase()}`);
  $("summary").textContent = total ? `${total} files: ${parts.join(", ")}.` : "No files yet.";
  if (total && !waiting && state.batchStart !== null) {
    state.lastBatchSeconds = (performance.now() - state.batchStart) / 1000;
    document.body.dataset.lastBatchSeconds = state.lastBatchSeconds.toFixed(3);
    state.batchStart = null;
  }
  let text = total ? `${done} of ${total} answered` : "";
  if (total && !waiting && state.lastBatchSeconds !== null) {
    text += ` in ${state.lastBatchSeconds.toFixed(1)} s`;
  }
  if (text !== $("progress-text").dataset.last) {
    $("progress-text").textContent = text;
    $("progress-text").dataset.last = text;
  }
  const exportable = visibleCards().filter((c) => c.text !== null).length;
  for (const id of ["export-csv", "export-jsonl"]) $(id).disabled = exportable === 0;
  $("export-count").textContent = `${exportable} record${exportable === 1 ? "" : "s"} shown`;
}

const SORTS = {
  upload: (a, b) => a.order - b.order,
  suspicious: (a, b) => VERDICTS[b.state].rank - VERDICTS[a.state].rank || score(b) - score(a) || a.order - b.order,
  least: (a, b) => VERDICTS[a.state].rank - VERDICTS[b.state].rank || score(a) - score(b) || a.order - b.order,
  name: (a, b) => a.file.name.localeCompare(b.file.name) || a.order - b.order,
};

function score(card) {
  return card.record && typeof card.record.score === "number" ? card.record.score : -1;
}

function visibleCards() {
  const filter = $("filter").value;
  return state.cards
    .filter((c) => filter === "all" || c.state === filter)
    .sort(SORTS[$("sort").value] || SORTS.upload);
}

function applyView() {
  const shown = visibleCards();
  const visible = new Set(shown);
  const list = $("results");
  let previous = null;
  for (const card of shown) {
    // Move only cards out of place, so focus and open details stay where they are.
    const expected = previous ? previous.root.nextSibling : list.firstChild;
    if (expected !== card.root) list.insertBefore(card.root, expected);
    previous = card;
  }
  for (const card of state.cards) card.root.hidden = !visible.has(card);
  progress();
}

// ---- export -----------------------------------------------------------------------------

async function exportAs(format) {
  const records = visibleCards().filter((c) => c.text !== null).map((c) => c.text);
  const status = $("export-status");
  status.textContent = "Preparing the file…";
  let response;
  try {
    response = await fetch("/v1/export", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify({ format, records }),
      cache: "no-store",
    });
  } catch (err) {
    status.textContent = `Export failed: the service did not answer (${err.message || err}).`;
    return;
  }
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      message = (await response.json()).error || message;
    } catch { /* not JSON */ }
    status.textContent = `Export failed: ${message}.`;
    return;
  }
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  link.href = url;
  link.download = `synthmark-screen-${stamp}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  status.textContent = `Exported ${records.length} records as ${format === "csv" ? "CSV" : "JSON Lines"}.`;
}

function clearAnswered() {
  const keep = [];
  for (const card of state.cards) {
    if (card.state === "pending") {
      keep.push(card);
      continue;
    }
    if (card.thumbUrl) URL.revokeObjectURL(card.thumbUrl);
    card.root.remove();
  }
  state.cards = keep;
  applyView();
}

// ---- drag and drop ----------------------------------------------------------------------

function setupDrop() {
  const zone = $("drop");
  let depth = 0;
  const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    zone.classList.add("over");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("over");
  });
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    zone.classList.remove("over");
    addFiles(event.dataTransfer.files);
  });
}

function setup() {
  setupToken();
  setupDrop();
  $("files").addEventListener("change", (event) => {
    addFiles(event.target.files);
    event.target.value = "";
  });
  $("filter").addEventListener("change", applyView);
  $("sort").addEventListener("change", applyView);
  $("export-csv").addEventListener("click", () => exportAs("csv"));
  $("export-jsonl").addEventListener("click", () => exportAs("jsonl"));
  $("clear").addEventListener("click", clearAnswered);
  applyView();
  document.body.dataset.ready = "true";
}

setup();
