// The label controls of the annotator's screen: scale / rubric rows, confidence, justification,
// both-bad, skip and flag panels, and every key. Everything chosen stays in the browser until one
// message is sent ("action" trigger) that names the item and the form (nonce) it was made on.
// While that message is in flight the controls are locked: no key or click can change a label.
//
// Streamlit calls this function again with new `data` for each item without running the previous
// call's cleanup, and a call can land late: when the component is re-mounted (a page switch, a rerun
// that rebuilds the page), the old mount's pending call may run after the new mount's, on a container
// that has left the page, and its cleanup may run after that. So there is no global "current
// instance": each root element carries the instance that last drew it (G.instances), and the one
// window listener hands a key to the instance of the root that is in the page now, never to one
// whose root was detached. Drafts (choices so far) are kept per form nonce so a redraw of the same
// item keeps them.

const G = (window.__annotateLabelKeys = window.__annotateLabelKeys || { drafts: new Map() });
G.instances = G.instances || new WeakMap(); // .lk-root element -> the instance that last drew it
G.serial = G.serial || 0;
G.current = null; // a listener left by an older version of this file in the same tab finds nothing
G.dispatch = (event) => {
  const instance = liveInstance();
  if (instance) instance.onKey(event);
};
if (!G.listener) { // one listener per tab; it always calls the newest G.dispatch
  G.listener = (event) => G.dispatch(event);
  window.addEventListener("keydown", G.listener, true);
}

/** The instance of the `.lk-root` in the page (the newest, should there ever be two), or null. */
function liveInstance() {
  let best = null;
  for (const node of document.querySelectorAll(".lk-root")) {
    const instance = G.instances.get(node);
    if (instance && (!best || instance.serial > best.serial)) best = instance;
  }
  return best;
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function newDraft(data) {
  const values = {};
  for (const row of data.rows) values[row.key] = row.value === undefined ? null : row.value;
  return {
    values, current: 0, panel: null, note: "", sentRev: null,
    confidence: data.confidence ? data.confidence.value : null,
    justification: data.justification ? data.justification.value || "" : "",
    bothBad: data.both_bad ? !!data.both_bad.value : false,
    message: null,
  };
}

function isTyping(event) {
  const target = event.composedPath ? event.composedPath()[0] : event.target;
  if (!target || !target.tagName) return false;
  return target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable ||
    (target.tagName === "INPUT" && !["button", "checkbox", "radio"].includes(target.type));
}

export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  let root = parentElement.querySelector(":scope > .lk-root");
  if (!root) {
    root = el("div", { class: "lk-root" });
    parentElement.appendChild(root);
  }
  let draft = G.drafts.get(data.nonce);
  if (!draft) {
    draft = newDraft(data);
    G.drafts.set(data.nonce, draft);
    while (G.drafts.size > 20) G.drafts.delete(G.drafts.keys().next().value);
  }
  if (draft.sentRev !== null && data.rev > draft.sentRev) draft.sentRev = null; // the server answered
  const rows = data.rows;
  const required = rows.length;
  const navRows = data.confidence ? required + 1 : required; // confidence is reachable, never required

  const instance = { onKey, serial: ++G.serial };
  G.instances.set(root, instance);

  function isLocked() { return draft.sentRev !== null; }

  function send(type, extra) {
    if (isLocked()) return;
    draft.sentRev = data.rev;
    draft.message = null;
    setTriggerValue("action", { type, nonce: data.nonce, item_id: data.item_id, ...extra });
    render();
  }

  function missing() {
    const rowIndex = rows.findIndex((row) => draft.values[row.key] === null);
    if (rowIndex >= 0) return [rowIndex, "Choose a value for every row before submitting."];
    const just = data.justification;
    if (just && just.mode === "required" && draft.justification.trim().length < Math.max(1, just.min_chars)) {
      return [null, `Write a justification of at least ${Math.max(1, just.min_chars)} characters.`];
    }
    return null;
  }

  function submit() {
    if (isLocked()) return;
    if (draft.panel) return confirmPanel();
    const gap = missing();
    if (gap) {
      draft.message = gap[1];
      if (gap[0] !== null) draft.current = gap[0];
      render();
      if (gap[0] === null) focusJustification();
      return;
    }
    const values = {};
    for (const row of rows) values[row.key] = draft.values[row.key];
    send("submit", {
      values, confidence: draft.confidence, both_bad: draft.bothBad,
      justification: draft.justification.trim() || null,
    });
  }

  function confirmPanel() {
    const kind = draft.panel;
    if (!draft.note.trim()) {
      draft.message = kind === "skip" ? "Give a reason for skipping." : "Write a comment for the flag.";
      render();
      return;
    }
    send(kind, { note: draft.note.trim() });
    if (kind === "flag") { draft.panel = null; draft.note = ""; }
  }

  function openPanel(kind) {
    if (data.mode !== "label") return;
    draft.panel = kind;
    draft.note = kind === "skip" ? data.skip_default : "";
    draft.message = null;
    render();
    const input = root.querySelector(".lk-note");
    if (input) { input.focus(); input.select(); }
  }

  function closePanel() { draft.panel = null; draft.message = null; render(); }

  function choose(rowIndex, value) {
    if (isLocked()) return;
    if (rowIndex === required) draft.confidence = draft.confidence === value ? null : value;
    else draft.values[rows[rowIndex].key] = value;
    draft.message = null;
    render();
  }

  function move(step) {
    draft.current = (draft.current + step + navRows) % navRows;
    render();
  }

  function focusJustification() {
    const box = root.querySelector(".lk-justification");
    if (box) box.focus();
  }

  function optionsOf(rowIndex) {
    if (rowIndex === required) return [1, 2, 3, 4, 5].map((v) => ({ value: v, label: String(v), digit: String(v) }));
    return rows[rowIndex].options;
  }

  function onKey(event) {
    if (!root.isConnected) return;
    const key = event.key;
    const handled = () => { event.preventDefault(); event.stopPropagation(); };
    if ((event.ctrlKey || event.metaKey) && key === "Enter") { handled(); submit(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = isTyping(event);
    if (key === "Escape") {
      handled();
      if (draft.panel) closePanel();
      else if (typing) document.activeElement && document.activeElement.blur();
      else if (data.mode === "edit" && !isLocked()) send("cancel", {});
      return;
    }
    if (typing) {
      const target = event.composedPath ? event.composedPath()[0] : event.target;
      if (key === "Enter" && draft.panel && target.classList && target.classList.contains("lk-note")) {
        handled();
        confirmPanel();
      }
      return;
    }
    if (isLocked()) {
      if (/^[0-9sfbdSFBD]$/.test(key)) { handled(); flashLocked(); }
      return;
    }
    if (/^[0-9]$/.test(key)) {
      const rowIndex = Math.min(draft.current, navRows - 1);
      const option = optionsOf(rowIndex).find((o) => o.digit === key);
      if (!option) return;
      handled();
      choose(rowIndex, option.value);
      if (rowIndex < required - 1) move(1);
      return;
    }
    if (key === "Tab" && !focusIsOnScreen()) return; // Tab keeps moving the focus through the rest of the page
    if (key === "ArrowDown" || (key === "Tab" && !event.shiftKey && !(draft.current === navRows - 1 && data.justification))) {
      if (navRows > 1 || key === "Tab") { handled(); move(1); }
      return;
    }
    if (key === "Tab" && !event.shiftKey) { handled(); focusJustification(); return; }
    if (key === "ArrowUp" || (key === "Tab" && event.shiftKey)) {
      if (navRows > 1 || key === "Tab") { handled(); move(-1); }
      return;
    }
    if (key === "ArrowLeft" || key === "ArrowRight") {
      const options = optionsOf(draft.current);
      const now = draft.current === required ? draft.confidence : draft.values[rows[draft.current].key];
      let index = options.findIndex((o) => o.value === now);
      index = index < 0 ? (key === "ArrowLeft" ? options.length - 1 : 0)
        : Math.max(0, Math.min(options.length - 1, index + (key === "ArrowLeft" ? -1 : 1)));
      handled();
      choose(draft.current, options[index].value);
      return;
    }
    const lower = key.toLowerCase();
    if (lower === "s" && data.mode === "label" && data.can_skip !== false) { handled(); openPanel("skip"); }
    else if (lower === "f" && data.mode === "label") { handled(); openPanel("flag"); }
    else if (lower === "b" && data.both_bad) { handled(); draft.bothBad = !draft.bothBad; render(); }
    else if (lower === "d" && data.diff) { handled(); send("diff", { on: !data.diff.on }); }
  }

  function focusIsOnScreen() {
    const active = document.activeElement;
    return !active || active === document.body || root.contains(active) || active.id === "stMain";
  }

  function flashLocked() {
    root.classList.remove("lk-flash");
    void root.offsetWidth;
    root.classList.add("lk-flash");
  }

  function rowNode(rowIndex) {
    const isConfidence = rowIndex === required;
    const row = isConfidence ? { title: "Confidence (optional): 1 = guessing, 5 = certain", group: null } : rows[rowIndex];
    const value = isConfidence ? draft.confidence : draft.values[row.key];
    const isCurrent = draft.current === rowIndex;
    const compact = optionsOf(rowIndex).every((o) => o.label.length <= 3);
    const buttons = el("div", { class: "lk-options" + (compact ? " lk-compact" : ""), role: "radiogroup", "aria-label": row.title });
    for (const option of optionsOf(rowIndex)) {
      const selected = option.value === value;
      buttons.append(el("button", {
        type: "button", class: "lk-option" + (selected ? " lk-selected" : ""), role: "radio",
        "aria-checked": selected ? "true" : "false", "data-value": String(option.value),
        disabled: isLocked(), onclick: () => { draft.current = rowIndex; choose(rowIndex, option.value); },
      }, el("kbd", { text: option.digit }), el("span", { class: "lk-option-label", text: option.label })));
    }
    return el("div", {
      class: "lk-row" + (isCurrent ? " lk-current" : "") + (isConfidence ? " lk-optional" : ""),
      "aria-current": isCurrent ? "true" : null, "data-row": isConfidence ? "confidence" : row.key,
      onclick: () => { if (draft.current !== rowIndex) { draft.current = rowIndex; render(); } },
    }, el("div", { class: "lk-row-title" },
      el("span", { class: "lk-marker", text: isCurrent ? "▶" : "" }),
      row.group ? el("span", { class: "lk-group", text: row.group + " · " }) : null,
      el("span", { text: row.title })), buttons);
  }

  function panelNode() {
    const isSkip = draft.panel === "skip";
    const input = el("input", {
      type: "text", class: "lk-note", value: draft.note,
      "aria-label": isSkip ? "Reason for skipping" : "Flag comment",
      oninput: (e) => { draft.note = e.target.value; },
    });
    return el("div", { class: "lk-panel", role: "group" },
      el("label", { class: "lk-panel-title", text: isSkip ? "Reason for skipping" : "Comment for the researchers (the item stays on screen)" }),
      input,
      el("div", { class: "lk-actions" },
        el("button", { type: "button", class: "lk-primary", onclick: confirmPanel, disabled: isLocked() },
          isSkip ? "Confirm skip" : "Send flag", el("kbd", { text: "Enter" })),
        el("button", { type: "button", onclick: closePanel }, "Cancel", el("kbd", { text: "Esc" }))));
  }

  function render() {
    const nodes = [];
    nodes.push(el("div", { class: "lk-rows" }, ...Array.from({ length: navRows }, (_, i) => rowNode(i))));
    const extras = el("div", { class: "lk-extras" });
    if (data.both_bad) {
      extras.append(el("button", {
        type: "button", class: "lk-toggle" + (draft.bothBad ? " lk-selected" : ""), "aria-pressed": draft.bothBad ? "true" : "false",
        disabled: isLocked(), onclick: () => { draft.bothBad = !draft.bothBad; render(); },
      }, el("kbd", { text: "B" }), draft.bothBad ? "☑ Both responses are bad" : "☐ Both responses are bad"));
    }
    if (data.diff) {
      extras.append(el("button", {
        type: "button", class: "lk-toggle" + (data.diff.on ? " lk-selected" : ""), disabled: isLocked(),
        onclick: () => send("diff", { on: !data.diff.on }),
      }, el("kbd", { text: "D" }), data.diff.on ? "☑ Highlight differences" : "☐ Highlight differences"));
    }
    if (extras.childNodes.length) nodes.push(extras);
    if (data.justification) {
      const just = data.justification;
      const hint = just.mode === "required" ? ` (required, at least ${Math.max(1, just.min_chars)} characters)` : " (optional)";
      nodes.push(el("label", { class: "lk-just-label", text: "Justification" + hint }));
      const box = el("textarea", {
        class: "lk-justification", rows: "2", "aria-label": "Justification",
        oninput: (e) => { draft.justification = e.target.value; },
      });
      box.value = draft.justification;
      nodes.push(box);
    }
    if (draft.panel) nodes.push(panelNode());
    if (draft.message) nodes.push(el("div", { class: "lk-message", role: "alert", text: draft.message }));
    const actions = el("div", { class: "lk-actions" });
    actions.append(el("button", { type: "button", class: "lk-primary lk-submit", disabled: isLocked(), onclick: submit },
      isLocked() ? "Saving…" : data.submit_label, el("kbd", { text: "Ctrl+Enter" })));
    if (data.mode === "label") {
      if (data.can_skip !== false) {  // study participants have no skip (annotate/study/screen.py)
        actions.append(el("button", { type: "button", disabled: isLocked(), onclick: () => openPanel("skip") }, "Skip", el("kbd", { text: "S" })));
      }
      actions.append(el("button", { type: "button", disabled: isLocked(), onclick: () => openPanel("flag") }, "Flag", el("kbd", { text: "F" })));
    } else {
      actions.append(el("button", { type: "button", disabled: isLocked(), onclick: () => send("cancel", {}) }, "Cancel edit", el("kbd", { text: "Esc" })));
    }
    if (!draft.panel) nodes.push(actions);
    root.replaceChildren(...nodes);
    root.dataset.item = String(data.item_id);
    root.dataset.nonce = data.nonce;
    root.dataset.state = isLocked() ? "sending" : "ready";
    root.dataset.serverMs = String(data.server_ms === undefined ? "" : data.server_ms);
    const focused = draft.panel && root.querySelector(".lk-note");
    if (focused && document.activeElement !== focused) { focused.focus(); }
  }

  render();
  // Cleanup (an unmount, or a call Streamlit had already cancelled): forget this instance once its
  // root has left the page. A root still in the page keeps the instance that drew it last, so what
  // the annotator sees always answers the keys.
  return () => { if (!root.isConnected && G.instances.get(root) === instance) G.instances.delete(root); };
}
