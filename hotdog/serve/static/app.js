// The page's behaviour: tell which model answers (GET /model), send a photo (POST /predict), show the
// label and every class's probability, or the server's error message. No libraries: it works offline.
"use strict";

const $ = (id) => document.getElementById(id);
let maxUploadBytes = Infinity;
let latest = 0; // only the answer to the most recent photo is shown

function describe(model) {
  const classes = model.classes.length <= 8
    ? model.classes.join(", ")
    : model.classes.slice(0, 8).join(", ") + ", …";
  return `Model: ${model.backbone}, strategy ${model.strategy}, run “${model.run}” · ` +
    `${model.classes.length} classes: ${classes} · ${model.image_size} px input`;
}

function showModel(model) {
  $("model").textContent = describe(model);
  $("synthetic").hidden = !model.synthetic_data;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  $("status").textContent = "";
}

function percent(p) {
  return (100 * p).toFixed(p >= 0.995 || p < 0.005 ? 0 : 1) + "%";
}

function showAnswer(answer) {
  const ranked = Object.entries(answer.probabilities).sort((a, b) => b[1] - a[1]);
  $("label").textContent = answer.label;
  $("confidence").textContent = percent(answer.probabilities[answer.label]);
  const bars = $("bars");
  bars.replaceChildren();
  for (const [name, p] of ranked) {
    const item = document.createElement("li");
    if (name === answer.label) item.className = "top";
    const text = document.createElement("div");
    text.className = "bar-text";
    const label = document.createElement("span");
    label.className = "bar-name";
    label.textContent = name;
    const value = document.createElement("span");
    value.textContent = percent(p);
    text.append(label, value);
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = (100 * p).toFixed(1) + "%";
    bar.append(fill);
    item.append(text, bar);
    bars.append(item);
  }
  // The Grad-CAM overlay, when the server could make one (a data: URL, nothing fetched from elsewhere).
  $("explanation").hidden = !answer.explanation;
  if (answer.explanation) $("explanation-image").src = answer.explanation;
  showModel(answer.model);
  $("status").textContent = "";
  $("result").hidden = false;
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body.error) return body.error;
  } catch (_) { /* not JSON: fall through to the status line */ }
  return `the server answered ${response.status} ${response.statusText}`;
}

async function send(file) {
  const mine = ++latest;
  $("error").hidden = true;
  $("result").hidden = true; // the last answer was about another photo
  // Checked here so that a huge file is not sent only to be refused; the server checks regardless.
  if (file.size > maxUploadBytes) {
    showError(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB, over this server's limit of ` +
      `${(maxUploadBytes / 2 ** 20).toFixed(1)} MB; choose a smaller photo`);
    return;
  }
  const preview = $("preview");
  if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  $("status").textContent = "Asking the model…";
  const form = new FormData();
  form.append("image", file);
  try {
    const response = await fetch("/predict", { method: "POST", body: form });
    if (mine !== latest) return;
    if (response.ok) showAnswer(await response.json());
    else showError(await errorOf(response));
  } catch (error) {
    if (mine === latest) showError(`no answer from the server (${error.message}); is hotdog serve still running?`);
  }
}

function watchDrops(zone) {
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) send(event.dataTransfer.files[0]);
  });
}

async function start() {
  $("origin").textContent = window.location.origin;
  $("image").addEventListener("change", (event) => {
    if (event.target.files.length) send(event.target.files[0]);
    event.target.value = ""; // choosing the same photo again still sends it
  });
  watchDrops($("drop"));
  try {
    const response = await fetch("/model");
    const info = await response.json();
    maxUploadBytes = info.max_upload_bytes;
    showModel(info.model);
  } catch (error) {
    $("model").textContent = `Cannot reach the server (${error.message}).`;
  }
}

start();
