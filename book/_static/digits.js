// "Draw a digit": the networks this build trained, run in the page (float64, no server).
//
// The build writes one script per network (nnbook.mnist.export), which registers
// window.nnbookDigitModels[name] = {layers, state, mean, std, testAccuracy}; this file walks the
// exported layers in order, as nnbook.mnist.manual does in NumPy, in evaluation mode (batch
// norm with its running statistics, dropout passing everything on).
"use strict";

(function () {
  const SIDE = 28; // the networks' input: 28 × 28 pixels (each export says how MNIST made them)

  // ---------------------------------------------------------------------------------------
  // The state dict: base64 little-endian float32 (int64 for counters) → Float64Array

  function decode(entry) {
    const bytes = Uint8Array.from(atob(entry.data), (c) => c.charCodeAt(0));
    const values =
      entry.dtype === "int64"
        ? Array.from(new BigInt64Array(bytes.buffer), Number)
        : new Float32Array(bytes.buffer);
    return Float64Array.from(values);
  }

  const decoded = {};
  function stateDict(name) {
    const model = exported(name);
    if (!decoded[name]) {
      decoded[name] = {};
      for (const [key, entry] of Object.entries(model.state)) {
        decoded[name][key] = { shape: entry.shape, data: decode(entry) };
      }
    }
    return decoded[name];
  }

  function exported(name) {
    const model = (window.nnbookDigitModels || {})[name];
    if (!model) throw new Error(`no network named ${name} was exported by this build`);
    return model;
  }

  // ---------------------------------------------------------------------------------------
  // The layers, each on one image: a map is {c, h, w, data}, data channel-major (c, h, w)

  // y[o,i,j] = b[o] + Σ_c Σ_p Σ_q w[o,c,p,q] · x[c, i+p−pad, j+q−pad] (zero outside).
  // The input is padded once; each output row is then computed over the padded width W (the
  // last k − 1 columns of a row are thrown away), so that the innermost loop runs over a whole
  // channel at once: y'[t] += Σ_p,q w[p,q] · x_pad[t + p·W + q] for every t of the plane. For
  // a 3 × 3 kernel the nine products are written out: one pass over the plane, not nine.
  function conv(x, weight, bias, padding) {
    const [out, inC, k] = weight.shape;
    const width = x.w + 2 * padding; // W
    const height = x.h + 2 * padding;
    const h = height - k + 1;
    const w = width - k + 1;
    const padded = new Float64Array(inC * height * width);
    for (let c = 0; c < inC; c++) {
      for (let i = 0; i < x.h; i++) {
        const row = x.data.subarray((c * x.h + i) * x.w, (c * x.h + i + 1) * x.w);
        padded.set(row, (c * height + i + padding) * width + padding);
      }
    }
    const span = (h - 1) * width + w; // every t = i·W + j with i < h, j < w, and the gaps
    const wide = new Float64Array(h * width);
    const y = new Float64Array(out * h * w);
    const kernel = weight.data;
    for (let o = 0; o < out; o++) {
      wide.fill(bias ? bias.data[o] : 0);
      for (let c = 0; c < inC; c++) {
        const at = (o * inC + c) * k * k; // w[o, c, 0, 0]
        const r0 = c * height * width; // x_pad[c, 0, 0]
        if (k === 3) {
          const [w0, w1, w2, w3, w4, w5, w6, w7, w8] = kernel.subarray(at, at + 9);
          const r1 = r0 + width;
          const r2 = r1 + width;
          for (let t = 0; t < span; t++) {
            wide[t] +=
              w0 * padded[r0 + t] + w1 * padded[r0 + t + 1] + w2 * padded[r0 + t + 2] +
              w3 * padded[r1 + t] + w4 * padded[r1 + t + 1] + w5 * padded[r1 + t + 2] +
              w6 * padded[r2 + t] + w7 * padded[r2 + t + 1] + w8 * padded[r2 + t + 2];
          }
        } else {
          for (let p = 0; p < k; p++) {
            for (let q = 0; q < k; q++) {
              const weightValue = kernel[at + p * k + q];
              const shift = r0 + p * width + q;
              for (let t = 0; t < span; t++) wide[t] += weightValue * padded[shift + t];
            }
          }
        }
      }
      for (let i = 0; i < h; i++) y.set(wide.subarray(i * width, i * width + w), (o * h + i) * w);
    }
    return { c: out, h, w, data: y };
  }

  // y = γ · (x − running mean) / √(running var + ε) + β, per channel
  function batchNorm(x, gamma, beta, mean, variance, eps) {
    const y = new Float64Array(x.data.length);
    const size = x.h * x.w;
    for (let c = 0; c < x.c; c++) {
      const scale = (gamma ? gamma.data[c] : 1) / Math.sqrt(variance.data[c] + eps);
      const shift = (beta ? beta.data[c] : 0) - mean.data[c] * scale;
      for (let k = c * size; k < (c + 1) * size; k++) y[k] = x.data[k] * scale + shift;
    }
    return { ...x, data: y };
  }

  // y = max(x, 0)
  function relu(x) {
    const y = new Float64Array(x.data.length);
    for (let k = 0; k < y.length; k++) y[k] = x.data[k] > 0 ? x.data[k] : 0;
    return { ...x, data: y };
  }

  // max or mean of each size × size window; the rows and columns that fill none are dropped
  function pool(x, size, reduce) {
    const h = Math.floor(x.h / size);
    const w = Math.floor(x.w / size);
    const y = new Float64Array(x.c * h * w);
    for (let c = 0; c < x.c; c++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          let best = -Infinity;
          let sum = 0;
          for (let p = 0; p < size; p++) {
            for (let q = 0; q < size; q++) {
              const v = x.data[(c * x.h + i * size + p) * x.w + j * size + q];
              best = Math.max(best, v);
              sum += v;
            }
          }
          y[(c * h + i) * w + j] = reduce === "max" ? best : sum / (size * size);
        }
      }
    }
    return { c: x.c, h, w, data: y };
  }

  function apply(layer, x, state) {
    const at = (key) => (key ? state[key] : null);
    switch (layer.kind) {
      case "conv":
        return conv(x, at(layer.weight), at(layer.bias), layer.padding);
      case "batchnorm":
        return batchNorm(x, at(layer.weight), at(layer.bias), at(layer.mean), at(layer.var), layer.eps);
      case "relu":
        return relu(x);
      case "maxpool":
        return pool(x, layer.size, "max");
      case "avgpool":
        return pool(x, layer.size, "mean");
      case "identity":
        return x;
      default:
        throw new Error(`unknown layer kind ${layer.kind}`);
    }
  }

  // log p = z − log Σ exp z, shifted by max z
  function logSoftmax(scores) {
    const top = Math.max(...scores);
    const logSum = Math.log(scores.reduce((sum, z) => sum + Math.exp(z - top), 0));
    return scores.map((z) => z - top - logSum);
  }

  // Every layer's output for 784 ink values in [0, 1] (row-major), and the log-probabilities
  function run(name, pixels) {
    const model = exported(name);
    if (pixels.length !== SIDE * SIDE) throw new Error(`expected ${SIDE * SIDE} pixels`);
    const state = stateDict(name);
    const input = Float64Array.from(pixels, (ink) => (ink - model.mean) / model.std);
    let x = { c: 1, h: SIDE, w: SIDE, data: input };
    const outputs = [];
    for (const layer of model.layers) {
      x = apply(layer, x, state);
      outputs.push(x);
    }
    return { outputs, logProbabilities: logSoftmax(Array.from(x.data)) };
  }

  function logProbabilities(name, pixels) {
    return run(name, pixels).logProbabilities;
  }

  // ---------------------------------------------------------------------------------------
  // A drawing in MNIST's form: the ink's bounding box scaled to 20 × 20 (its longer side),
  // grey levels from the area each field pixel covers, placed by its centre of mass

  function toMnist(ink, width, height, form) {
    // MNIST scaled each digit's bounding box into form.box × form.box pixels and put its
    // centre of mass at the centre of a form.field × form.field image
    const BOX = form.box;
    const FIELD = form.field;
    const CENTRE = (FIELD - 1) / 2;
    let top = height;
    let bottom = -1;
    let left = width;
    let right = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (ink[y * width + x] > 0) {
          top = Math.min(top, y);
          bottom = Math.max(bottom, y);
          left = Math.min(left, x);
          right = Math.max(right, x);
        }
      }
    }
    if (bottom < 0) return null; // nothing drawn
    const boxH = bottom - top + 1;
    const boxW = right - left + 1;
    const scale = BOX / Math.max(boxH, boxW);
    const h = Math.max(1, Math.round(boxH * scale));
    const w = Math.max(1, Math.round(boxW * scale));
    const sums = new Float64Array(h * w);
    const counts = new Float64Array(h * w);
    for (let y = top; y <= bottom; y++) {
      const row = Math.min(h - 1, Math.floor(((y - top) * h) / boxH));
      for (let x = left; x <= right; x++) {
        const cell = row * w + Math.min(w - 1, Math.floor(((x - left) * w) / boxW));
        sums[cell] += ink[y * width + x];
        counts[cell] += 1;
      }
    }
    let mass = 0;
    let rowMass = 0;
    let colMass = 0;
    const small = sums.map((s, k) => s / counts[k]);
    small.forEach((v, k) => {
      mass += v;
      rowMass += v * Math.floor(k / w);
      colMass += v * (k % w);
    });
    const offsetRow = Math.round(CENTRE - rowMass / mass);
    const offsetCol = Math.round(CENTRE - colMass / mass);
    const field = new Float64Array(FIELD * FIELD);
    small.forEach((v, k) => {
      const r = Math.floor(k / w) + offsetRow;
      const c = (k % w) + offsetCol;
      if (r >= 0 && r < FIELD && c >= 0 && c < FIELD) field[r * FIELD + c] = Math.min(1, v);
    });
    return field;
  }

  // ---------------------------------------------------------------------------------------
  // The page

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    node.append(...children);
    return node;
  }

  // a map drawn as grey levels, each channel scaled to its own range (white = largest)
  function paint(canvas, values, offset, h, w) {
    const context = canvas.getContext("2d");
    const image = context.createImageData(w, h);
    let low = Infinity;
    let high = -Infinity;
    for (let k = 0; k < h * w; k++) {
      low = Math.min(low, values[offset + k]);
      high = Math.max(high, values[offset + k]);
    }
    for (let k = 0; k < h * w; k++) {
      const level = high > low ? (255 * (values[offset + k] - low)) / (high - low) : 0;
      image.data.set([level, level, level, 255], 4 * k);
    }
    context.putImageData(image, 0, 0);
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

  function setUp(root) {
    const names = Object.keys(window.nnbookDigitModels || {});
    if (!names.length) {
      root.append(element("p", {}, "This build exported no network for the page."));
      return;
    }
    const pad = element("canvas", {
      class: "nnbook-digit-pad",
      width: "280",
      height: "280",
      role: "img",
      "aria-label": "Drawing pad: draw a digit here with the mouse, a pen or a finger",
    });
    const choice = element("select", { id: "nnbook-digit-model" });
    for (const name of names) choice.append(element("option", { value: name }, name));
    const clear = element("button", { type: "button", "data-action": "clear" }, "Clear");
    const sample = element("button", { type: "button", "data-action": "sample" }, "Pick a test digit");
    const controls = element(
      "div",
      { class: "nnbook-digit-controls" },
      element("label", { for: "nnbook-digit-model" }, "Network "),
      choice,
      clear,
      sample,
    );
    const input = element("canvas", {
      class: "nnbook-digit-input",
      width: String(SIDE),
      height: String(SIDE),
      role: "img",
      "aria-label": "The drawing as the network sees it: 28 × 28 grey levels",
    });
    const field = element("div", { class: "nnbook-digit-field", hidden: "" });
    const inputView = element("div", { class: "nnbook-digit-input-view" }, input, field);
    const prediction = element("output", { "data-prediction": "", "aria-live": "polite" });
    const status = element("span", { class: "nnbook-digit-status" });
    const bars = element("div", { class: "nnbook-digit-bars", role: "list" });
    const barOf = [];
    for (let digit = 0; digit < 10; digit++) {
      const fill = element("span", { class: "nnbook-digit-bar-fill" });
      const value = element("span", { class: "nnbook-digit-bar-value" });
      bars.append(
        element(
          "div",
          { class: "nnbook-digit-bar", role: "listitem" },
          element("span", { class: "nnbook-digit-bar-label" }, String(digit)),
          element("span", { class: "nnbook-digit-bar-track" }, fill),
          value,
        ),
      );
      barOf.push({ fill, value });
    }
    const maps = element("div", { class: "nnbook-digit-maps" });
    root.append(
      controls,
      element("div", { class: "nnbook-digit-row" }, pad, inputView),
      element("p", { class: "nnbook-digit-answer" }, "Prediction: ", prediction, " ", status),
      bars,
      maps,
    );

    const context = pad.getContext("2d");
    context.lineCap = context.lineJoin = "round";
    context.lineWidth = 22;
    let drawing = false;
    let last = null;
    let pixels = null;

    function position(event) {
      const box = pad.getBoundingClientRect();
      return [
        ((event.clientX - box.left) * pad.width) / box.width,
        ((event.clientY - box.top) * pad.height) / box.height,
      ];
    }
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
      pixels = toMnist(ink, pad.width, pad.height, exported(choice.value).form);
      show();
    };
    pad.addEventListener("pointerup", endStroke);
    pad.addEventListener("pointercancel", endStroke);

    clear.addEventListener("click", () => {
      context.clearRect(0, 0, pad.width, pad.height);
      pixels = null;
      show();
    });
    let sampleIndex = 0;
    sample.addEventListener("click", () => {
      const samples = window.nnbookDigitSamples;
      if (!samples) return;
      const bytes = Uint8Array.from(atob(samples.pixels), (c) => c.charCodeAt(0));
      const count = samples.labels.length;
      const k = sampleIndex++ % count;
      context.clearRect(0, 0, pad.width, pad.height);
      pixels = Float64Array.from(bytes.subarray(k * SIDE * SIDE, (k + 1) * SIDE * SIDE), (b) => b / 255);
      status.textContent = `(test digit ${k + 1} of ${count}, labelled ${samples.labels[k]})`;
      show(true);
    });
    choice.addEventListener("change", () => show(true));

    function showField(stage, row, col) {
      const { size, jump, start } = stage.layer.field;
      const half = (size - 1) / 2;
      const clip = (v) => Math.min(SIDE - 1, Math.max(0, v));
      const top = clip(Math.ceil(start + row * jump - half));
      const bottom = clip(Math.floor(start + row * jump + half));
      const left = clip(Math.ceil(start + col * jump - half));
      const right = clip(Math.floor(start + col * jump + half));
      Object.assign(field.style, {
        top: `${(100 * top) / SIDE}%`,
        left: `${(100 * left) / SIDE}%`,
        height: `${(100 * (bottom - top + 1)) / SIDE}%`,
        width: `${(100 * (right - left + 1)) / SIDE}%`,
      });
      field.dataset.rows = String(bottom - top + 1);
      field.dataset.columns = String(right - left + 1);
      field.dataset.unit = `${stage.layer.name} (${row}, ${col})`;
      field.hidden = false;
    }

    function showMaps(name, outputs) {
      maps.replaceChildren();
      for (const stage of stages(exported(name))) {
        const out = outputs[stage.last];
        if (out.h * out.w === 1) continue; // the scores: the bars above show them
        const group = element("div", { class: "nnbook-digit-map-group" });
        const title = `${stage.layer.name} (${stage.layer.type}): ${out.c} × ${out.h} × ${out.w}`;
        group.append(element("p", { class: "nnbook-digit-map-title" }, title));
        for (let c = 0; c < out.c; c++) {
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
            const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
            if (!moves[event.key]) return;
            event.preventDefault();
            unit = [
              Math.min(out.h - 1, Math.max(0, unit[0] + moves[event.key][0])),
              Math.min(out.w - 1, Math.max(0, unit[1] + moves[event.key][1])),
            ];
            showField(stage, ...unit);
          });
          group.append(canvas);
        }
        maps.append(group);
      }
    }

    function show(keepStatus) {
      if (!keepStatus) status.textContent = "";
      field.hidden = true;
      const name = choice.value;
      const inputContext = input.getContext("2d");
      if (!pixels) {
        prediction.textContent = "";
        status.textContent = "(draw a digit)";
        inputContext.clearRect(0, 0, SIDE, SIDE);
        barOf.forEach(({ fill, value }) => {
          fill.style.width = "0";
          value.textContent = "";
        });
        maps.replaceChildren();
        return;
      }
      const started = performance.now();
      const { outputs, logProbabilities: logP } = run(name, pixels);
      root.dataset.milliseconds = (performance.now() - started).toFixed(2);
      const image = inputContext.createImageData(SIDE, SIDE);
      pixels.forEach((ink, k) => image.data.set([255 * (1 - ink), 255 * (1 - ink), 255 * (1 - ink), 255], 4 * k));
      inputContext.putImageData(image, 0, 0);
      const best = logP.indexOf(Math.max(...logP));
      prediction.textContent = String(best);
      logP.forEach((lp, digit) => {
        const percent = 100 * Math.exp(lp);
        barOf[digit].fill.style.width = `${percent}%`;
        barOf[digit].value.textContent = `${percent.toFixed(1)} %`;
      });
      showMaps(name, outputs);
    }
    show();
  }

  window.nnbookDigits = {
    models: Object.keys(window.nnbookDigitModels || {}),
    logProbabilities,
    stateDict,
    toMnist,
    testAccuracy: (name) => exported(name).testAccuracy,
  };
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-nnbook-digits]").forEach(setUp);
  });
})();
