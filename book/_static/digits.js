// "Draw a digit": the page that reads a drawing with the networks this build trained.
//
// The numbers are layers.js's (window.nnbookLayers: every layer forward and backward, in
// float64); this file is the page: the pad, MNIST's preprocessing of a drawing, the ten bars,
// the feature maps with each unit's receptive field, and the heat map of what the network looks
// at (∂ log p / ∂ ink, nnbookTraining.inputGradient). Networks trained on "Train it here" join
// the choice through nnbookDigits.addNetwork.
"use strict";

(function () {
  const layers = window.nnbookLayers;
  const SIDE = layers.SIDE;

  // Every layer's output for 784 ink values in [0, 1] (row-major), and the log-probabilities
  function run(name, pixels) {
    if (pixels.length !== SIDE * SIDE) throw new Error(`expected ${SIDE * SIDE} pixels`);
    const model = layers.exported(name);
    const { steps, logProbabilities } = layers.evaluateOf(model, layers.stateDict(name), pixels, 1);
    return { outputs: steps.map((step) => step.y), logProbabilities: Array.from(logProbabilities) };
  }

  function logProbabilities(name, pixels) {
    return run(name, pixels).logProbabilities;
  }

  // A network trained elsewhere on the page: the layers of `base` (a network the page knows,
  // drawn or trained here: nnbookLayers.exported), the weights of `state`
  function addNetwork(name, base, state, testAccuracy) {
    const model = layers.exported(base);
    window.nnbookDigitModels[name] = { ...model, state, decoded: state, testAccuracy, trainedHere: true };
    document.dispatchEvent(new CustomEvent("nnbook-network-added", { detail: { name } }));
  }

  // ---------------------------------------------------------------------------------------
  // A drawing in MNIST's form: the ink's bounding box scaled to form.box × form.box pixels
  // (its longer side), grey levels from the area each pixel covers, placed by its centre of
  // mass at the centre of a form.field × form.field image

  function inkBox(ink, width, height) {
    let [top, bottom, left, right] = [height, -1, width, -1];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (ink[y * width + x] > 0) {
          [top, bottom] = [Math.min(top, y), Math.max(bottom, y)];
          [left, right] = [Math.min(left, x), Math.max(right, x)];
        }
      }
    }
    return bottom < 0 ? null : { top, left, h: bottom - top + 1, w: right - left + 1 };
  }

  function scaledInto(ink, width, box, size) {
    const scale = size / Math.max(box.h, box.w);
    const h = Math.max(1, Math.round(box.h * scale));
    const w = Math.max(1, Math.round(box.w * scale));
    const sums = new Float64Array(h * w);
    const counts = new Float64Array(h * w);
    for (let y = box.top; y < box.top + box.h; y++) {
      const row = Math.min(h - 1, Math.floor(((y - box.top) * h) / box.h));
      for (let x = box.left; x < box.left + box.w; x++) {
        const cell = row * w + Math.min(w - 1, Math.floor(((x - box.left) * w) / box.w));
        sums[cell] += ink[y * width + x];
        counts[cell] += 1;
      }
    }
    return { h, w, values: sums.map((s, k) => s / counts[k]) };
  }

  function toMnist(ink, width, height, form) {
    const box = inkBox(ink, width, height);
    if (!box) return null; // nothing drawn
    const { h, w, values } = scaledInto(ink, width, box, form.box);
    let [mass, rowMass, colMass] = [0, 0, 0];
    values.forEach((v, k) => {
      mass += v;
      rowMass += v * Math.floor(k / w);
      colMass += v * (k % w);
    });
    const centre = (form.field - 1) / 2;
    const offsetRow = Math.round(centre - rowMass / mass);
    const offsetCol = Math.round(centre - colMass / mass);
    const field = new Float64Array(form.field * form.field);
    values.forEach((v, k) => {
      const r = Math.floor(k / w) + offsetRow;
      const c = (k % w) + offsetCol;
      if (r >= 0 && r < form.field && c >= 0 && c < form.field) field[r * form.field + c] = Math.min(1, v);
    });
    return field;
  }

  // ---------------------------------------------------------------------------------------
  // Drawing on canvases

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    node.append(...children);
    return node;
  }

  // a map drawn as grey levels, scaled to its own range (white = largest)
  function paint(canvas, values, offset, h, w) {
    const context = canvas.getContext("2d");
    const image = context.createImageData(w, h);
    let [low, high] = [Infinity, -Infinity];
    for (let k = 0; k < h * w; k++) [low, high] = [Math.min(low, values[offset + k]), Math.max(high, values[offset + k])];
    for (let k = 0; k < h * w; k++) {
      const level = high > low ? (255 * (values[offset + k] - low)) / (high - low) : 0;
      image.data.set([level, level, level, 255], 4 * k);
    }
    context.putImageData(image, 0, 0);
  }

  // signed values on white: red where positive, blue where negative, scaled by the largest |v|
  function paintSigned(canvas, values, offset, h, w) {
    const context = canvas.getContext("2d");
    const image = context.createImageData(w, h);
    let largest = 0;
    for (let k = 0; k < h * w; k++) largest = Math.max(largest, Math.abs(values[offset + k]));
    for (let k = 0; k < h * w; k++) {
      const v = largest > 0 ? values[offset + k] / largest : 0;
      const fade = 255 * (1 - Math.abs(v));
      image.data.set(v >= 0 ? [255, fade, fade, 255] : [fade, fade, 255, 255], 4 * k);
    }
    context.putImageData(image, 0, 0);
  }

  // ---------------------------------------------------------------------------------------
  // The page's parts

  function makePad(onInk) {
    const pad = element("canvas", {
      class: "nnbook-digit-pad",
      width: "280",
      height: "280",
      role: "img",
      "aria-label": "Drawing pad: draw a digit here with the mouse, a pen or a finger",
    });
    const context = pad.getContext("2d");
    context.lineCap = context.lineJoin = "round";
    context.lineWidth = 22;
    let [drawing, last] = [false, null];
    const position = (event) => {
      const box = pad.getBoundingClientRect();
      return [((event.clientX - box.left) * pad.width) / box.width, ((event.clientY - box.top) * pad.height) / box.height];
    };
    pad.addEventListener("pointerdown", (event) => {
      drawing = true;
      pad.setPointerCapture(event.pointerId);
      last = position(event);
      context.beginPath();
      context.arc(last[0], last[1], context.lineWidth / 2, 0, 2 * Math.PI);
      context.fill();
    });
    pad.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      const next = position(event);
      context.beginPath();
      context.moveTo(...last);
      context.lineTo(...next);
      context.stroke();
      last = next;
    });
    const endStroke = () => {
      if (!drawing) return;
      drawing = false;
      const { data } = context.getImageData(0, 0, pad.width, pad.height);
      const ink = new Float64Array(pad.width * pad.height);
      for (let k = 0; k < ink.length; k++) ink[k] = data[4 * k + 3] / 255;
      onInk(ink, pad.width, pad.height);
    };
    pad.addEventListener("pointerup", endStroke);
    pad.addEventListener("pointercancel", endStroke);
    return { canvas: pad, clear: () => context.clearRect(0, 0, pad.width, pad.height) };
  }

  function makeBars() {
    const bars = element("div", { class: "nnbook-digit-bars", role: "list" });
    const barOf = [];
    for (let digit = 0; digit < 10; digit++) {
      const fill = element("span", { class: "nnbook-digit-bar-fill" });
      const value = element("span", { class: "nnbook-digit-bar-value" });
      const track = element("span", { class: "nnbook-digit-bar-track" }, fill);
      const label = element("span", { class: "nnbook-digit-bar-label" }, String(digit));
      bars.append(element("div", { class: "nnbook-digit-bar", role: "listitem" }, label, track, value));
      barOf.push({ fill, value });
    }
    const show = (logP) =>
      barOf.forEach(({ fill, value }, digit) => {
        const percent = logP ? 100 * Math.exp(logP[digit]) : 0;
        fill.style.width = logP ? `${percent}%` : "0";
        value.textContent = logP ? `${percent.toFixed(1)} %` : "";
      });
    return { element: bars, show };
  }

  // The 28 × 28 input, the outline of a receptive field on it, and the heat map beside it
  function makeInputView() {
    const input = element("canvas", {
      class: "nnbook-digit-input",
      width: String(SIDE),
      height: String(SIDE),
      role: "img",
      "aria-label": "The drawing as the network sees it: 28 × 28 grey levels",
    });
    const field = element("div", { class: "nnbook-digit-field", hidden: "" });
    const heat = element("canvas", {
      class: "nnbook-digit-input nnbook-digit-heat",
      width: String(SIDE),
      height: String(SIDE),
      role: "img",
      "aria-label": "What the network looks at: red where more ink would raise the predicted digit's probability, blue where it would lower it",
    });
    const view = element(
      "div",
      { class: "nnbook-digit-views" },
      element("figure", {}, element("div", { class: "nnbook-digit-input-view" }, input, field), element("figcaption", {}, "input")),
      element("figure", {}, element("div", { class: "nnbook-digit-input-view" }, heat), element("figcaption", {}, "∂ log p / ∂ ink")),
    );
    function show(pixels, gradient) {
      const context = input.getContext("2d");
      if (!pixels) {
        context.clearRect(0, 0, SIDE, SIDE);
        heat.getContext("2d").clearRect(0, 0, SIDE, SIDE);
        return;
      }
      const image = context.createImageData(SIDE, SIDE);
      pixels.forEach((ink, k) => image.data.set([255 * (1 - ink), 255 * (1 - ink), 255 * (1 - ink), 255], 4 * k));
      context.putImageData(image, 0, 0);
      paintSigned(heat, gradient, 0, SIDE, SIDE);
    }
    // outline the input pixels that unit (row, col) of a stage's output sees
    function showField(stage, row, col) {
      const { size, jump, start } = stage.layer.field;
      const half = (size - 1) / 2;
      const clip = (v) => Math.min(SIDE - 1, Math.max(0, v));
      const [top, bottom] = [clip(Math.ceil(start + row * jump - half)), clip(Math.floor(start + row * jump + half))];
      const [left, right] = [clip(Math.ceil(start + col * jump - half)), clip(Math.floor(start + col * jump + half))];
      Object.assign(field.style, {
        top: `${(100 * top) / SIDE}%`,
        left: `${(100 * left) / SIDE}%`,
        height: `${(100 * (bottom - top + 1)) / SIDE}%`,
        width: `${(100 * (right - left + 1)) / SIDE}%`,
      });
      Object.assign(field.dataset, { rows: bottom - top + 1, columns: right - left + 1, unit: `${stage.layer.name} (${row}, ${col})` });
      field.hidden = false;
    }
    return { element: view, heat, show, showField, hideField: () => (field.hidden = true) };
  }

  // the layers whose output starts a new stage (a convolution or a pooling), and the output
  // that stage ends with (after its ReLU, batch norm, dropout): what the page shows
  function stages(model) {
    const found = [];
    model.layers.forEach((layer, index) => {
      if (["conv", "maxpool", "avgpool"].includes(layer.kind)) found.push({ layer, first: index });
      if (found.length) found[found.length - 1].last = index;
    });
    return found;
  }

  const MOVES = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };

  // one channel of a stage's output; pointing at a unit (or moving with the arrow keys)
  // outlines its receptive field
  function mapCanvas(stage, out, c, showField) {
    const canvas = element("canvas", {
      class: "nnbook-digit-map",
      width: String(out.w),
      height: String(out.h),
      tabindex: "0",
      role: "img",
      "aria-label": `channel ${c} of ${stage.layer.name}; point at a unit to see what it sees`,
    });
    paint(canvas, out.data, c * out.h * out.w, out.h, out.w);
    let unit = [0, 0];
    const point = (event) => {
      const box = canvas.getBoundingClientRect();
      unit = [
        Math.min(out.h - 1, Math.floor(((event.clientY - box.top) * out.h) / box.height)),
        Math.min(out.w - 1, Math.floor(((event.clientX - box.left) * out.w) / box.width)),
      ];
      showField(stage, ...unit);
    };
    canvas.addEventListener("pointermove", point);
    canvas.addEventListener("pointerdown", point);
    canvas.addEventListener("focus", () => showField(stage, ...unit));
    canvas.addEventListener("keydown", (event) => {
      if (!MOVES[event.key]) return;
      event.preventDefault();
      const [dr, dc] = MOVES[event.key];
      unit = [Math.min(out.h - 1, Math.max(0, unit[0] + dr)), Math.min(out.w - 1, Math.max(0, unit[1] + dc))];
      showField(stage, ...unit);
    });
    return canvas;
  }

  // a layer's type, and for a grouped convolution its groups: a depthwise one (a group per
  // input channel) has a kernel per channel, so each of its maps comes from one input map alone
  function kindOf(layer, inputChannels) {
    if (!(layer.groups > 1)) return layer.type;
    if (layer.groups === inputChannels) return `${layer.type}, depthwise: one kernel per channel`;
    return `${layer.type}, ${layer.groups} groups`;
  }

  function showMaps(maps, model, outputs, showField) {
    maps.replaceChildren();
    for (const stage of stages(model)) {
      const out = outputs[stage.last];
      if (out.h * out.w === 1) continue; // the scores: the bars show them
      const inputChannels = stage.first > 0 ? outputs[stage.first - 1].c : 1; // the image: 1
      const title = `${stage.layer.name} (${kindOf(stage.layer, inputChannels)}): ${out.c} × ${out.h} × ${out.w}`;
      const group = element("div", { class: "nnbook-digit-map-group" }, element("p", { class: "nnbook-digit-map-title" }, title));
      for (let c = 0; c < out.c; c++) group.append(mapCanvas(stage, out, c, showField));
      maps.append(group);
    }
  }

  function networkChoice() {
    const choice = element("select", { id: "nnbook-digit-model" });
    const refresh = (selected) => {
      choice.replaceChildren();
      for (const [name, model] of Object.entries(window.nnbookDigitModels || {})) {
        // the export's label (the chapter's answer), or where the network was trained
        const note = model.trainedHere ? "trained in this page" : model.label;
        const label = note ? `${name} (${note})` : name;
        choice.append(element("option", { value: name }, label));
      }
      if (selected) choice.value = selected;
    };
    refresh();
    return { element: choice, refresh };
  }

  // The page's parts, appended to root: the controls, the pad and the input beside it, the
  // prediction, the ten bars and the maps; onInk(ink, width, height) after each stroke
  function makeParts(root, onInk) {
    const choice = networkChoice();
    const pad = makePad(onInk);
    const clear = element("button", { type: "button", "data-action": "clear" }, "Clear");
    const sample = element("button", { type: "button", "data-action": "sample" }, "Pick a test digit");
    const label = element("label", { for: "nnbook-digit-model" }, "Network ");
    const controls = element("div", { class: "nnbook-digit-controls" }, label, choice.element, clear, sample);
    const inputView = makeInputView();
    const prediction = element("output", { "data-prediction": "", "aria-live": "polite" });
    const status = element("span", { class: "nnbook-digit-status" });
    const bars = makeBars();
    const maps = element("div", { class: "nnbook-digit-maps" });
    root.append(
      controls,
      element("div", { class: "nnbook-digit-row" }, pad.canvas, inputView.element),
      element("p", { class: "nnbook-digit-answer" }, "Prediction: ", prediction, " ", status),
      bars.element,
      maps,
    );
    return { choice, pad, clear, sample, inputView, prediction, status, bars, maps };
  }

  // What the chosen network makes of 784 ink values (null: nothing drawn): its answer, the bars
  // of p = exp(log p), the heat map of ∂ log p / ∂ ink for its answer, and every stage's maps
  function showReading(root, parts, pixels, keepStatus) {
    const { choice, inputView, prediction, status, bars, maps } = parts;
    if (!keepStatus) status.textContent = "";
    inputView.hideField();
    if (!pixels) {
      prediction.textContent = "";
      status.textContent = "(draw a digit)";
      inputView.show(null);
      bars.show(null);
      maps.replaceChildren();
      return;
    }
    const name = choice.element.value;
    const started = performance.now();
    const { outputs, logProbabilities: logP } = run(name, pixels);
    root.dataset.milliseconds = (performance.now() - started).toFixed(2);
    const best = logP.indexOf(Math.max(...logP));
    inputView.show(pixels, window.nnbookTraining.inputGradient(name, pixels, best));
    prediction.textContent = String(best);
    bars.show(logP);
    showMaps(maps, layers.exported(name), outputs, inputView.showField);
  }

  // Test digit k of the build's samples (window.nnbookDigitSamples) as ink in [0, 1]
  function sampleDigit(samples, k) {
    const bytes = Uint8Array.from(atob(samples.pixels), (c) => c.charCodeAt(0));
    return Float64Array.from(bytes.subarray(k * SIDE * SIDE, (k + 1) * SIDE * SIDE), (b) => b / 255);
  }

  function setUp(root) {
    if (!Object.keys(window.nnbookDigitModels || {}).length) {
      root.append(element("p", {}, "This build exported no network for the page."));
      return;
    }
    let pixels = null;
    const parts = makeParts(root, (ink, width, height) => {
      pixels = toMnist(ink, width, height, layers.exported(parts.choice.element.value).form);
      show();
    });
    const { choice, pad, clear, sample, status } = parts;

    function show(keepStatus) {
      showReading(root, parts, pixels, keepStatus);
    }

    clear.addEventListener("click", () => {
      pad.clear();
      pixels = null;
      show();
    });
    let sampleIndex = 0;
    sample.addEventListener("click", () => {
      const samples = window.nnbookDigitSamples;
      if (!samples) return;
      const count = samples.labels.length;
      const k = sampleIndex++ % count;
      pad.clear();
      pixels = sampleDigit(samples, k);
      status.textContent = `(test digit ${k + 1} of ${count}, labelled ${samples.labels[k]})`;
      show(true);
    });
    choice.element.addEventListener("change", () => show(true));
    document.addEventListener("nnbook-network-added", (event) => {
      choice.refresh(event.detail.name);
      show(true);
    });
    show();
  }

  window.nnbookDigits = {
    get models() {
      return Object.keys(window.nnbookDigitModels || {});
    },
    logProbabilities,
    stateDict: layers.stateDict,
    toMnist,
    addNetwork,
    testAccuracy: (name) => layers.exported(name).testAccuracy,
    drawing: { element, paint, paintSigned }, // shared with train.js
  };
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-nnbook-digits]").forEach(setUp);
  });
})();
