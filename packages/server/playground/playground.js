// The playground: sends the prompt (completion mode) or the conversation (chat mode) to the OpenAI routes with
// stream: true, shows the answer as its SSE chunks arrive, and measures tokens per second. Stop aborts the fetch:
// the server sees the client leave and cancels the generation.
const $ = (id) => document.getElementById(id);
const el = {
  model: $("model"), key: $("api-key"), prompt: $("prompt"), send: $("send"), stop: $("stop-button"), clear: $("clear"),
  output: $("output"), status: $("status"), rate: $("rate"), count: $("count"), conversation: $("conversation"), form: $("form"),
};
let controller = null;
let messages = [];

const mode = () => document.querySelector('input[name="mode"]:checked').value;
const headers = () => {
  const h = { "content-type": "application/json" };
  const key = el.key.value.trim();
  if (key) h.authorization = `Bearer ${key}`;
  return h;
};
const num = (input) => (input.value.trim() === "" ? undefined : Number(input.value));

el.key.value = sessionStorage.getItem("actorlm-key") ?? "";
el.key.addEventListener("change", () => { sessionStorage.setItem("actorlm-key", el.key.value); loadModels(); });

async function loadModels() {
  try {
    const res = await fetch("/v1/models", { headers: headers() });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error?.message ?? res.statusText);
    el.model.replaceChildren(...body.data.map((m) => new Option(m.id, m.id)));
  } catch (error) {
    setStatus(`cannot list models: ${error.message}`, true);
  }
}

function setStatus(text, isError = false) {
  el.status.textContent = text;
  el.status.classList.toggle("error", isError);
}

function renderConversation(pending) {
  el.conversation.hidden = mode() !== "chat";
  el.conversation.replaceChildren(...messages.map((m) => {
    const div = document.createElement("div");
    div.className = m.role;
    div.textContent = m.content;
    return div;
  }));
  if (pending !== undefined) el.conversation.append(pending);
}

for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener("change", () => {
    el.send.textContent = mode() === "chat" ? "Send" : "Generate";
    renderConversation();
  });
}

el.clear.addEventListener("click", () => {
  messages = [];
  el.output.textContent = "";
  renderConversation();
  setStatus("idle");
});

el.stop.addEventListener("click", () => controller?.abort());

el.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (controller !== null) return;
  const text = el.prompt.value;
  if (text.trim() === "") { setStatus("type a prompt first", true); return; }
  const chat = mode() === "chat";
  const body = {
    model: el.model.value || undefined,
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: num($("max-tokens")),
    temperature: num($("temperature")),
    top_p: num($("top-p")),
    top_k: num($("top-k")),
    seed: num($("seed")),
  };
  const stop = $("stop").value.replaceAll("\\n", "\n");
  if (stop !== "") body.stop = [stop];
  if (chat) {
    messages.push({ role: "user", content: text });
    body.messages = messages;
    el.prompt.value = "";
  } else {
    body.prompt = text;
  }
  const answerView = document.createElement("div");
  answerView.className = "assistant";
  if (chat) renderConversation(answerView);
  const show = (t) => { if (chat) answerView.textContent = t; else el.output.textContent = t; };

  controller = new AbortController();
  el.send.disabled = true;
  el.stop.disabled = false;
  setStatus("waiting for the first token…");
  let answer = "";
  let tokens = 0;
  let first = 0;
  const started = performance.now();
  const showRate = () => {
    const secs = (performance.now() - first) / 1000;
    el.rate.textContent = tokens > 1 && secs > 0 ? `${((tokens - 1) / secs).toFixed(1)} tokens/s` : "– tokens/s";
    el.count.textContent = `${tokens} tokens`;
  };
  show("");
  try {
    const res = await fetch(chat ? "/v1/chat/completions" : "/v1/completions", {
      method: "POST", headers: headers(), body: JSON.stringify(body), signal: controller.signal,
    });
    if (!res.ok) {
      const err = await res.json().catch(() => ({}));
      throw new Error(err.error?.message ?? `${res.status} ${res.statusText}`);
    }
    let finish = null;
    for await (const data of events(res.body)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.usage) { tokens = chunk.usage.completion_tokens; showRate(); continue; }
      const choice = chunk.choices[0];
      const piece = chat ? (choice.delta.content ?? "") : choice.text;
      if (piece !== "") {
        if (tokens === 0) { first = performance.now(); setStatus(`generating (first token after ${Math.round(first - started)} ms)`); }
        tokens++;
        answer += piece;
        show(answer);
        showRate();
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    setStatus(`done (${finish ?? "?"})`);
    if (chat) messages.push({ role: "assistant", content: answer });
  } catch (error) {
    if (error.name === "AbortError") {
      setStatus("stopped");
      if (chat && answer !== "") messages.push({ role: "assistant", content: answer });
    } else {
      setStatus(error.message, true);
      if (chat && answer === "") messages.pop();
    }
  } finally {
    controller = null;
    el.send.disabled = false;
    el.stop.disabled = true;
    if (chat) renderConversation();
  }
});

/** The `data:` payloads of a server-sent event stream. */
async function* events(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data !== "") yield data;
    }
  }
}

loadModels();
renderConversation();
