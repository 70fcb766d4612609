// One card per uploaded file: thumbnail, verdict badge (colour, icon and words), score,
// reasons, and the per-layer details behind a disclosure.

import { el, icon } from "./dom.js";
import { layerSections } from "./layers.js";

export const VERDICTS = {
  synthetic: { label: "Synthetic", rank: 3 },
  likely_synthetic: { label: "Likely synthetic", rank: 2 },
  no_evidence: { label: "No evidence", rank: 1 },
  error: { label: "Error", rank: 0 },
  pending: { label: "Waiting", rank: -1 },
};

const THUMB_PX = 320;

/** A small PNG of the file as a blob: URL, made in the browser (null when it cannot decode it). */
export async function thumbnail(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return null;
  }
  try {
    const scale = Math.min(1, THUMB_PX / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    return blob ? URL.createObjectURL(blob) : null;
  } finally {
    bitmap.close();
  }
}

/** A new card for ``file`` (state "pending"); the caller puts ``card.root`` in the list. */
export function createCard(id, file) {
  const nameId = `card-${id}-name`;
  const card = {
    id, file, state: "pending", record: null, text: null, order: id, thumbUrl: null,
  };
  card.badge = el("p", { class: "badge" });
  card.status = el("p", { class: "status" });
  card.score = el("p", { class: "score" });
  card.reasons = el("ul", { class: "reasons", "aria-label": "Reasons" });
  card.actions = el("div", { class: "card-actions" });
  card.details = el("div", { class: "details" });
  card.thumb = el("div", { class: "thumb" }, el("span", { class: "no-preview" }, "Preview…"));
  card.article = el("article", { "aria-labelledby": nameId, "aria-busy": "true" },
    card.thumb,
    el("div", { class: "body" },
      el("h3", { class: "name", id: nameId, title: file.name }, file.name),
      card.badge, card.status, card.score, card.reasons, card.actions, card.details));
  card.root = el("li", { class: "card", id: `card-${id}` }, card.article);
  setBadge(card, "pending");
  return card;
}

export function setThumbnail(card, url) {
  card.thumb.replaceChildren(url
    ? el("img", { src: url, alt: `Preview of ${card.file.name}`, width: 160, height: 160 })
    : el("span", { class: "no-preview" }, "No preview: the browser cannot show this format"));
  card.thumbUrl = url;
}

function setBadge(card, state) {
  card.state = state;
  card.root.dataset.verdict = state;
  card.badge.replaceChildren(icon(state), el("span", {}, VERDICTS[state].label));
}

/** Waiting or uploading: a line of status text. */
export function showPending(card, text) {
  setBadge(card, "pending");
  card.article.setAttribute("aria-busy", "true");
  card.status.textContent = text;
}

/** A screening record from the service: badge, score, reasons, layers. */
export function showRecord(card, record, text) {
  card.record = record;
  card.text = text;
  card.retryable = false;
  const verdict = VERDICTS[record.verdict] ? record.verdict : "error";
  setBadge(card, verdict);
  card.article.setAttribute("aria-busy", "false");
  card.status.textContent = "";
  card.actions.replaceChildren();
  const score = typeof record.score === "number" ? record.score : null;
  card.score.textContent = score === null ? "" : `Score ${score.toFixed(2)} of 1`;
  card.reasons.replaceChildren(...(Array.isArray(record.reasons) ? record.reasons : [])
    .map((reason) => el("li", {}, String(reason))));
  const more = el("details", { class: "more" }, el("summary", {}, "Details by layer"));
  more.addEventListener("toggle", () => {
    if (more.open && more.children.length === 1) more.append(...layerSections(record));
  }, { once: false });
  card.details.replaceChildren(more);
}

/** A per-file error: the message on the card; ``retry`` adds a Retry button. */
export function showError(card, message, { record = null, text = null, retry = null } = {}) {
  card.record = record;
  card.text = text;
  card.retryable = Boolean(retry);
  setBadge(card, "error");
  card.article.setAttribute("aria-busy", "false");
  card.status.textContent = message;
  card.score.textContent = "";
  card.reasons.replaceChildren();
  card.details.replaceChildren();
  card.actions.replaceChildren();
  if (retry) {
    const button = el("button", { type: "button" }, "Retry");
    button.setAttribute("aria-label", `Retry ${card.file.name}`);
    button.addEventListener("click", retry);
    card.actions.append(button);
  }
}
