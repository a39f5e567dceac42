// The AI chat beside the editor: POST /api/programs/ai-chat with "stream": true, read as Server-Sent
// Events (`token` text as it comes, `tool_call` / `tool_result` as one line each, `done` with the whole
// answer: code, diagnostics, conversation id). Proposed code is shown highlighted with its diagnostics
// and goes into the editor with one click. A server that answers plain JSON works too.

import * as api from "./api.js";
import { clear, h } from "./dom.js";
import { highlight } from "./highlight.js";

const textOf = (data) => (typeof data === "string" ? data : data && (data.text ?? data.token ?? data.content ?? data.delta ?? ""));

export function createChat({ programId, onUseCode }) {
  let conversation = null;
  const log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", "data-testid": "chat-log" },
    h("p", { class: "muted" }, "Ask for a program (“an RSI mean-reversion on ETH”), or about an error. Answers stream in; proposed code is checked before you see it."));
  const input = h("textarea", { id: "chat-input", placeholder: "Write a message… (Ctrl+Enter sends)", required: true });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const reset = h("button", { type: "button", class: "ghost small", onclick: () => { conversation = null; clear(log); input.focus(); } }, "New conversation");
  const form = h("form", { onsubmit: (e) => { e.preventDefault(); ask(); } },
    h("label", { for: "chat-input" }, "Message to the assistant"), input, h("div", { class: "row end" }, reset, send));
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); ask(); } });

  async function ask() {
    const message = input.value.trim();
    if (!message) return;
    input.value = "";
    log.append(h("div", { class: "msg user" }, message));
    const text = h("span");
    const tools = h("div");
    const extra = h("div");
    const bubble = h("div", { class: "msg", "aria-busy": "true" }, tools, text, extra);
    log.append(bubble);
    log.scrollTop = log.scrollHeight;
    send.disabled = true;
    const body = { message, stream: true };
    if (conversation) body.conversation_id = conversation;
    if (programId()) body.program_id = programId();
    try {
      await api.stream("ai-chat", body, (event, data) => {
        if (event === "token" || event === "message") text.textContent += textOf(data);
        else if (event === "tool_call") tools.append(h("div", { class: "tool" }, `→ ${data.name || "tool"}(${short(data.arguments)})`));
        else if (event === "tool_result") tools.append(h("div", { class: "tool" }, `← ${data.name || ""} ${short(data.result ?? data.summary ?? data)}`));
        else if (event === "error") extra.append(h("div", { class: "error-box" }, (data && (data.message || data.error?.message)) || String(data)));
        else if (event === "done") finish(data);
        log.scrollTop = log.scrollHeight;
      });
    } catch (err) {
      extra.append(h("div", { class: "error-box", role: "alert" },
        err.status === 404 ? "The assistant is not available on this server yet (404)." : err.message));
    } finally {
      bubble.removeAttribute("aria-busy");
      send.disabled = false;
    }

    function finish(reply) {
      if (!reply || typeof reply !== "object") return;
      if (reply.conversation_id) conversation = reply.conversation_id;
      if (reply.response && !text.textContent) text.textContent = reply.response;
      if (reply.provider || reply.model) extra.append(h("div", { class: "tool" }, [reply.provider, reply.model].filter(Boolean).join(" · ")));
      if (reply.code) extra.append(proposal(reply.code, reply.diagnostics));
    }
  }

  function proposal(code, diagnostics) {
    const errors = (diagnostics && diagnostics.errors) || [];
    const valid = diagnostics ? diagnostics.valid !== false && errors.length === 0 : null;
    const pre = h("pre", { class: "code-block" }, h("code"));
    pre.firstChild.innerHTML = highlight(code, errors.map((d) => ({ ...d, kind: "err" })));
    return h("div", {},
      h("div", { class: valid ? "good" : valid === false ? "bad" : "muted" },
        valid ? "Proposed code: it compiles." : valid === false ? `Proposed code: ${errors.length} error(s).` : "Proposed code (not checked)."),
      errors.length ? h("ul", { class: "diagnostics" }, errors.map((d) => h("li", { class: "err" }, `Line ${d.line}, column ${d.column}: ${d.message}`))) : null,
      pre,
      h("button", { type: "button", class: "primary small", onclick: () => onUseCode(code), "data-testid": "use-code" }, "Put in the editor"));
  }

  const el = h("aside", { class: "panel chat", "aria-label": "AI assistant" }, h("h2", {}, "Assistant"), log, form);
  return { el };
}

function short(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text && text.length > 120 ? text.slice(0, 117) + "…" : text || "";
}
