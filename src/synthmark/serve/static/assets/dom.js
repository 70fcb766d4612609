// Small DOM helpers. Every piece of data goes in as text (textContent), never as HTML.

const SVG = "http://www.w3.org/2000/svg";

/** An element: el("p", {class: "x", hidden: true}, "text", child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

/** Append children: nodes, strings (as text), arrays of either; null is skipped. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const ICON_PATHS = {
  // an octagon with an exclamation mark
  synthetic: "M8 1h8l7 7v8l-7 7H8l-7-7V8zM11 6v8h2V6zM11 16v2h2v-2z",
  // a triangle with an exclamation mark
  likely_synthetic: "M12 1l11 21H1zM11 8v7h2V8zM11 17v2h2v-2z",
  // a circle with a dash: nothing found, which proves nothing
  no_evidence: "M12 1a11 11 0 1 1 0 22a11 11 0 1 1 0-22zM7 11v2h10v-2z",
  // a square with a cross
  error: "M2 2h20v20H2zM7 8.5L10.5 12L7 15.5L8.5 17L12 13.5L15.5 17L17 15.5L13.5 12L17 8.5L15.5 7L12 10.5L8.5 7z",
  // a clock
  pending: "M12 1a11 11 0 1 1 0 22a11 11 0 1 1 0-22zM11 5v8l5 3l1-1.7l-4-2.4V5z",
};

/** A 1em icon for a verdict (decorative: the text next to it says the same). */
export function icon(kind) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICON_PATHS[kind] || ICON_PATHS.error);
  path.setAttribute("fill-rule", "evenodd");
  svg.append(path);
  return svg;
}

/** A definition list of [term, value] pairs; pairs whose value is empty are left out. */
export function facts(pairs) {
  const list = el("dl", { class: "facts" });
  for (const [term, value] of pairs) {
    if (isEmpty(value)) continue;
    list.append(el("dt", {}, term), el("dd", {}, value instanceof Node ? value : show(value)));
  }
  return list.children.length ? list : null;
}

export function isEmpty(value) {
  return (
    value === null ||
    value === undefined ||
    value === "" ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === "object" && !(value instanceof Node) && Object.keys(value).length === 0)
  );
}

/** Any JSON value as short text. */
export function show(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return value.map(show).join(", ");
  return JSON.stringify(value);
}

/** The last part of a URI: ".../digitalsourcetype/trainedAlgorithmicMedia" -> the name. */
export function shortName(uri) {
  return typeof uri === "string" ? uri.replace(/\/+$/, "").split("/").pop() : show(uri);
}

/** A p-value: 2.5e-24, or 0.31. */
export function pValue(p) {
  if (typeof p !== "number") return null;
  return p !== 0 && p < 1e-3 ? p.toExponential(1) : p.toFixed(3).replace(/0+$/, "").replace(/\.$/, "");
}

/** A collapsible section: <details><summary>title</summary>body</details>. */
export function section(title, body, { open = false, className = "" } = {}) {
  const details = el("details", { class: `layer ${className}`.trim(), open });
  details.append(el("summary", {}, title));
  append(details, [body]);
  return details;
}

export function asObject(value) {
  return value && typeof value === "object" && !Array.isArray(value) ? value : {};
}

export function asArray(value) {
  return Array.isArray(value) ? value : [];
}
