// "Train it here": a network of the book trained in the reader's browser by the backward passes
// of layers.js, from the weights PyTorch initialised it with for the book's seed
// (window.nnbookTrainStart), on MNIST digits shipped with the build (nnbook-train-digits.js,
// loaded when the reader first asks to train).
//
// The training runs in a Worker built from a Blob — the text of two module functions,
// layers.js's nnbookLayersModule and nnbookTrainWorkerModule below, and their calls on the
// Worker's global — so that the page stays responsive; a Blob works from file://. The Worker
// takes one step (or one chunk of the test set) per task and reports after each.
"use strict";

// ---------------------------------------------------------------------------------------
// The Worker's module: it runs there, sent as text, so it uses no name of this script, only
// the Worker's globals and what nnbookLayersModule put in scope.nnbookLayers (SIDE included).
// Its one piece of state is the run, `job`, which makeJob makes whole.

function nnbookTrainWorkerModule(scope) {
  const L = scope.nnbookLayers;
  const { SIDE } = L;
  const EVALUATE_CHUNK = 100; // test digits per task
  const VIEW_EVERY = 10; // steps between two pictures of the kernels and maps
  let job = null; // the run: made by makeJob on setUp and on each reset

  // a small seeded generator (mulberry32), so that a run of the page repeats itself
  function generator(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  async function unpack(split) {
    const packed = Uint8Array.from(atob(split.pixels), (c) => c.charCodeAt(0));
    const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream("gzip"));
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    const labels = Uint8Array.from(atob(split.labels), (c) => c.charCodeAt(0));
    return { count: split.count, bytes, labels };
  }

  function pixelsOf(split, indices) {
    const pixels = new Float64Array(indices.length * SIDE * SIDE);
    indices.forEach((index, k) => {
      const from = index * SIDE * SIDE;
      for (let p = 0; p < SIDE * SIDE; p++) pixels[k * SIDE * SIDE + p] = split.bytes[from + p] / 255;
    });
    return pixels;
  }

  // A pass over the training digits: their order shuffled (Fisher–Yates, by the run's
  // generator), its count of steps, and the recipe with the page's rate and batch size
  function shuffledPass(train, random, recipe, settings) {
    const order = Array.from({ length: train.count }, (_, k) => k);
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.floor(random() * (k + 1));
      [order[k], order[j]] = [order[j], order[k]];
    }
    const total = Math.ceil(order.length / settings.batchSize);
    return { order, step: 0, total, recipe: { ...recipe, ...settings } };
  }

  // The run, every field of it: the network and the digits it learns from, its weights from
  // their start, a generator from the seed and its first pass. A reset is a new run of the
  // same network and digits.
  function makeJob({ model, start, recipe, seed, train, test }, settings) {
    const random = generator(seed);
    return {
      model,
      start,
      recipe,
      seed,
      train,
      test,
      random,
      state: L.decodeState(start),
      shapes: L.shapesOf({ state: start }),
      buffers: null, // SGD's momentum buffers, made by its first step
      pass: shuffledPass(train, random, recipe, settings),
      steps: 0, // steps taken, over every pass
      passes: 0, // passes ended
      evaluation: null, // while the test digits are read: {next, correct}
      running: false,
    };
  }

  function masksFor(count) {
    const probe = L.forward(job.model, job.state, L.tensor(1, 1, SIDE, SIDE), { training: false });
    return probe
      .filter((step) => step.layer.kind === "dropout")
      .map(({ layer, y }) => Float64Array.from({ length: count * y.c * y.h * y.w }, () => (job.random() < layer.p ? 0 : 1 / (1 - layer.p))));
  }

  function trainStep() {
    const { pass } = job;
    const { batchSize } = pass.recipe;
    const indices = pass.order.slice(pass.step * batchSize, (pass.step + 1) * batchSize);
    const labels = Array.from(indices, (index) => job.train.labels[index]);
    const hasDropout = job.model.layers.some((layer) => layer.kind === "dropout");
    const masks = hasDropout ? masksFor(indices.length) : null;
    const started = performance.now();
    const result = L.lossAndGradientsOf(job.model, job.shapes, job.state, pixelsOf(job.train, indices), labels, masks);
    const { lr, momentum } = L.oneCycle(pass.recipe, pass.step, pass.total);
    const options = { lr, momentum, weightDecay: pass.recipe.weightDecay, nesterov: pass.recipe.nesterov };
    const next = L.sgdStep(job.state, result.gradients, job.buffers, options);
    L.updateRunning(next.state, result.statistics, job.recipe.batchNormMomentum);
    [job.state, job.buffers] = [next.state, next.buffers];
    pass.step += 1;
    job.steps += 1;
    const milliseconds = performance.now() - started;
    scope.postMessage({ type: "step", steps: job.steps, loss: result.loss, lr, milliseconds, pass: job.passes + 1, of: pass.total, at: pass.step });
  }

  function evaluateChunk() {
    const { evaluation } = job;
    const indices = [];
    for (let k = evaluation.next; k < Math.min(evaluation.next + EVALUATE_CHUNK, job.test.count); k++) indices.push(k);
    const { logProbabilities } = L.evaluateOf(job.model, job.state, pixelsOf(job.test, indices), indices.length);
    indices.forEach((index, k) => {
      const row = logProbabilities.subarray(k * L.CLASSES, (k + 1) * L.CLASSES);
      if (row.indexOf(Math.max(...row)) === job.test.labels[index]) evaluation.correct += 1;
    });
    evaluation.next += indices.length;
    if (evaluation.next >= job.test.count) {
      scope.postMessage({ type: "accuracy", steps: job.steps, accuracy: evaluation.correct / job.test.count });
      job.evaluation = null;
    }
  }

  function postView() {
    const first = job.model.layers.find((layer) => layer.kind === "conv");
    const steps = L.evaluateOf(job.model, job.state, pixelsOf(job.test, [0]), 1).steps;
    const stageEnd = job.model.layers.findIndex((layer, k) => k > 0 && ["conv", "maxpool", "avgpool"].includes(layer.kind)) - 1;
    const maps = steps[stageEnd].y;
    scope.postMessage({ type: "view", kernels: { shape: job.state[first.weight].shape, data: job.state[first.weight].data }, maps });
  }

  function tick() {
    if (!job || !job.running) return;
    try {
      if (job.evaluation) evaluateChunk();
      else if (job.pass.step < job.pass.total) {
        trainStep();
        if (job.steps % VIEW_EVERY === 0) postView();
        // the test accuracy every recipe.evaluateEvery steps (page_training.EVALUATE_EVERY)
        const evaluate = job.steps % job.recipe.evaluateEvery === 0 || job.pass.step === job.pass.total;
        if (evaluate) job.evaluation = { next: 0, correct: 0 };
      } else {
        job.passes += 1;
        job.running = false;
        scope.postMessage({ type: "passDone", passes: job.passes, steps: job.steps });
        return;
      }
    } catch (error) {
      job.running = false;
      scope.postMessage({ type: "error", message: String(error && error.message) });
      return;
    }
    setTimeout(tick, 0);
  }

  // What each message of the page does to the run
  const answers = {
    async setUp(message) {
      const [train, test] = await Promise.all([unpack(message.digits.train), unpack(message.digits.test)]);
      job = makeJob({ ...message, train, test }, message.settings);
      postView();
      scope.postMessage({ type: "ready", train: train.count, test: test.count });
    },
    run(message) {
      if (job.pass.step >= job.pass.total) job.pass = shuffledPass(job.train, job.random, job.recipe, message.settings);
      job.running = true;
      tick();
    },
    pause() {
      job.running = false; // the step in progress has ended: messages wait between ticks
      scope.postMessage({ type: "paused", steps: job.steps });
    },
    reset(message) {
      job = makeJob(job, message.settings); // not running: a tick still queued does nothing
      postView();
      scope.postMessage({ type: "reset" });
    },
    weights(message) {
      scope.postMessage({ type: "weights", state: job.state, accuracy: message.accuracy });
    },
  };

  scope.onmessage = async ({ data: message }) => {
    try {
      if (Object.hasOwn(answers, message.type)) await answers[message.type](message);
    } catch (error) {
      scope.postMessage({ type: "error", message: String(error && error.message) });
    }
  };
}

(function () {
  const STATIC = new URL(".", document.currentScript.src).href; // this book's _static/
  const DIGITS_SCRIPT = "nnbook-train-digits.js";

  // A Worker whose code is the two module functions' text, each called on the Worker's global
  function makeWorker() {
    const modules = [nnbookLayersModule, nnbookTrainWorkerModule];
    const source = ['"use strict";', ...modules.map((module) => `${module.toString()}\n${module.name}(self);`)].join("\n");
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    const worker = new Worker(url);
    URL.revokeObjectURL(url);
    return worker;
  }

  // The digits, by a <script> tag: a page opened from file:// cannot fetch a file
  function loadDigits() {
    if (window.nnbookTrainDigits) return Promise.resolve(window.nnbookTrainDigits);
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = STATIC + DIGITS_SCRIPT;
      script.onload = () => resolve(window.nnbookTrainDigits);
      script.onerror = () => reject(new Error(`could not load ${DIGITS_SCRIPT}`));
      document.head.append(script);
    });
  }

  // ---------------------------------------------------------------------------------------
  // The page's parts

  // the page's drawing helpers, from digits.js (loaded before this file)
  const { element, paint: paintGrey, paintSigned } = window.nnbookDigits.drawing;


  // The chart's box and its scales: x(step), yLoss(loss) for losses in [0, most], yAccuracy(a)
  // for accuracies in [0.8, 1]
  function chartScales(canvas, losses) {
    const { width, height } = canvas;
    const [left, right, top, bottom] = [40, width - 40, 10, height - 24];
    const steps = Math.max(losses.length, 1);
    const most = Math.max(2.5, ...losses.slice(0, 20));
    return {
      box: { left, right, top, bottom },
      most,
      x: (step) => left + ((right - left) * step) / steps,
      yLoss: (loss) => bottom - ((bottom - top) * Math.min(loss, most)) / most,
      yAccuracy: (a) => bottom - ((bottom - top) * Math.max(0, a - 0.8)) / 0.2,
    };
  }

  // white, the frame, and the labels of both scales and of the count of steps
  function drawFrame(context, canvas, scales, stepCount) {
    const { width, height } = canvas;
    const { left, right, top, bottom } = scales.box;
    context.fillStyle = "#fff";
    context.fillRect(0, 0, width, height);
    context.strokeStyle = "#888";
    context.strokeRect(left, top, right - left, bottom - top);
    context.fillStyle = "#222";
    context.font = "11px sans-serif";
    context.fillText("loss", 4, top + 10);
    context.fillText(scales.most.toFixed(1), 4, top + 24);
    context.fillText("0", 4, bottom);
    context.fillText("100 %", right + 4, top + 10);
    context.fillText("80 %", right + 4, bottom);
    context.fillText(`steps: ${stepCount}`, left, height - 6);
  }

  // the losses as a line, or (smooth) their running mean m ← 0.9 m + 0.1 loss
  function drawLosses(context, scales, values, colour, smooth) {
    context.strokeStyle = colour;
    context.beginPath();
    let mean = values[0];
    values.forEach((value, k) => {
      mean = smooth ? 0.9 * mean + 0.1 * value : value;
      context[k ? "lineTo" : "moveTo"](scales.x(k + 1), scales.yLoss(mean));
    });
    context.stroke();
  }

  // a red dot for each test accuracy, at the step it was measured after
  function drawAccuracies(context, scales, accuracies) {
    context.fillStyle = "#c0392b";
    for (const { steps: at, accuracy } of accuracies) {
      context.beginPath();
      context.arc(scales.x(at), scales.yAccuracy(accuracy), 3, 0, 2 * Math.PI);
      context.fill();
    }
  }

  // The loss of every step (grey) and its running mean (dark), the test accuracy (red dots,
  // right-hand scale 0.8 to 1), on white so that it reads the same in dark mode
  function makeChart() {
    const canvas = element("canvas", {
      class: "nnbook-train-chart",
      width: "560",
      height: "220",
      role: "img",
      "aria-label": "The training loss of each step and the test accuracy, as the network learns",
    });
    const losses = [];
    const accuracies = [];
    function draw() {
      const context = canvas.getContext("2d");
      const scales = chartScales(canvas, losses);
      drawFrame(context, canvas, scales, losses.length);
      if (losses.length) {
        drawLosses(context, scales, losses, "#bbb", false);
        drawLosses(context, scales, losses, "#1a1a1a", true);
      }
      drawAccuracies(context, scales, accuracies);
    }
    draw();
    return {
      element: canvas,
      addLoss: (loss) => losses.push(loss),
      addAccuracy: (steps, accuracy) => accuracies.push({ steps, accuracy }),
      clear: () => {
        losses.length = accuracies.length = 0;
        draw();
      },
      draw,
    };
  }

  // The first layer's kernels (red positive, blue negative) and its maps of the first test digit
  function makeView() {
    const kernels = element("div", { class: "nnbook-train-kernels" });
    const maps = element("div", { class: "nnbook-train-maps" });
    function show({ kernels: weight, maps: out }) {
      const [count, inC, k] = weight.shape;
      if (kernels.children.length !== count) {
        kernels.replaceChildren(
          ...Array.from({ length: count }, (_, c) =>
            element("canvas", { class: "nnbook-train-kernel", width: String(k), height: String(k), role: "img", "aria-label": `kernel ${c} of the first convolution` }),
          ),
        );
        maps.replaceChildren(
          ...Array.from({ length: out.c }, (_, c) =>
            element("canvas", { class: "nnbook-digit-map", width: String(out.w), height: String(out.h), role: "img", "aria-label": `channel ${c} of the first layer's output for the first test digit` }),
          ),
        );
      }
      [...kernels.children].forEach((canvas, c) => paintSigned(canvas, weight.data, c * inC * k * k, k, k));
      [...maps.children].forEach((canvas, c) => paintGrey(canvas, out.data, c * out.h * out.w, out.h, out.w));
    }
    const view = element(
      "div",
      { class: "nnbook-train-view" },
      element("p", { class: "nnbook-digit-map-title" }, "The first layer's kernels"),
      kernels,
      element("p", { class: "nnbook-digit-map-title" }, "…and what they make of the first test digit"),
      maps,
    );
    return { element: view, show };
  }

  function makeControls(names) {
    const choice = element("select", { id: "nnbook-train-model" });
    for (const name of names) choice.append(element("option", { value: name }, name));
    const rate = element("input", { id: "nnbook-train-rate", type: "number", min: "0.001", max: "1", step: "0.01" });
    const batch = element("select", { id: "nnbook-train-batch" });
    for (const size of [8, 16, 32, 64, 128]) batch.append(element("option", { value: String(size) }, String(size)));
    const buttons = {
      train: element("button", { type: "button", "data-action": "train" }, "Train"),
      pause: element("button", { type: "button", "data-action": "pause", disabled: "" }, "Pause"),
      reset: element("button", { type: "button", "data-action": "reset" }, "Reset"),
    };
    const row = element(
      "div",
      { class: "nnbook-digit-controls" },
      element("label", { for: "nnbook-train-model" }, "Network "),
      choice,
      element("label", { for: "nnbook-train-rate" }, "Peak rate "),
      rate,
      element("label", { for: "nnbook-train-batch" }, "Batch "),
      batch,
      buttons.train,
      buttons.pause,
      buttons.reset,
    );
    return { element: row, choice, rate, batch, buttons };
  }

  function makeReadout() {
    const steps = element("output", { "data-training-steps": "0" }, "0");
    const accuracy = element("output", { "data-training-accuracy": "" }, "–");
    const loss = element("output", { "data-training-loss": "" }, "–");
    const speed = element("output", { "data-training-ms": "" }, "–");
    const status = element("span", { class: "nnbook-train-status", role: "status" }, "Press Train: the digits load, then the network learns.");
    const use = element("a", { href: "#draw-a-digit", "data-action": "use-weights", "aria-disabled": "true" }, "Use these weights to read a drawing");
    const readout = element(
      "p",
      { class: "nnbook-train-readout" },
      "Steps: ", steps, " · loss: ", loss, " · test accuracy: ", accuracy, " · ms a step: ", speed,
      element("br"), status, " ", use,
    ); // prettier-ignore
    return { element: readout, steps, accuracy, loss, speed, status, use };
  }

  // What each message of the Worker changes: each handler is given the message, the page's
  // parts and the session, and changes only what it names
  const HANDLERS = {
    step(message, { readout, chart }) {
      chart.addLoss(message.loss);
      readout.steps.dataset.trainingSteps = String(message.steps);
      readout.steps.textContent = String(message.steps);
      readout.loss.textContent = message.loss.toFixed(3);
      readout.speed.textContent = message.milliseconds.toFixed(0);
      readout.status.textContent = `Training: pass ${message.pass}, step ${message.at} of ${message.of}, rate ${message.lr.toFixed(4)}.`;
      if (message.steps % 5 === 0) chart.draw();
    },
    accuracy(message, { readout, chart }, session) {
      session.latestAccuracy = message.accuracy;
      chart.addAccuracy(message.steps, message.accuracy);
      chart.draw();
      readout.accuracy.dataset.trainingAccuracy = String(message.accuracy);
      readout.accuracy.textContent = `${(100 * message.accuracy).toFixed(1)} %`;
      readout.use.setAttribute("aria-disabled", "false");
    },
    view: (message, { view }) => view.show(message),
    ready(message, { readout }, session) {
      readout.status.textContent = `${message.train} training and ${message.test} test digits loaded.`;
      session.run();
    },
    passDone(message, { readout, chart }, session) {
      session.running(false);
      chart.draw();
      readout.status.textContent = `Pass ${message.passes} done after ${message.steps} steps: Train runs another.`;
    },
    weights(message, { readout, controls }) {
      const name = `${controls.choice.value}-here`;
      window.nnbookDigits.addNetwork(name, controls.choice.value, message.state, message.accuracy);
      readout.status.textContent = `"Draw a digit" now reads with ${name}.`;
    },
    error(message, { readout }, session) {
      session.running(false);
      readout.status.textContent = `Training stopped: ${message.message}`;
    },
    paused(message, { readout }) {
      readout.steps.dataset.trainingPaused = String(message.steps);
      readout.status.textContent = `Paused after ${message.steps} steps: Train goes on from here.`;
    },
    reset() {},
  };

  // What a Worker is set up with: the network's layers and normalisation (as the export writes
  // them), its starting weights and recipe, the seed, the page's settings and the digits
  function setUpMessage(network, seed, settings, digits) {
    const model = { layers: network.layers, mean: network.mean, std: network.std };
    return { type: "setUp", model, start: network.state, recipe: network.recipe, seed, settings, digits };
  }

  // The readout and the chart as they are before the first step
  function clearReadout({ readout, chart }) {
    chart.clear();
    readout.steps.dataset.trainingSteps = "0";
    readout.steps.textContent = "0";
    readout.accuracy.dataset.trainingAccuracy = "";
    for (const output of [readout.accuracy, readout.loss, readout.speed]) output.textContent = "–";
    readout.use.setAttribute("aria-disabled", "true");
  }

  // One network trained in one Worker: started on the first Train, ended on a change of network
  class Session {
    constructor(parts, start) {
      this.parts = parts;
      this.start = start;
      this.worker = null;
      this.latestAccuracy = null; // the last test accuracy the Worker reported
    }

    network() {
      return this.start.networks[this.parts.controls.choice.value];
    }

    // the page's rate (the recipe's when the box holds no number) and batch size
    settings() {
      const { rate, batch } = this.parts.controls;
      return { lr: Number(rate.value) || this.network().recipe.lr, batchSize: Number(batch.value) };
    }

    running(on) {
      const { buttons, choice } = this.parts.controls;
      buttons.train.disabled = on;
      buttons.pause.disabled = !on;
      choice.disabled = on;
    }

    run() {
      delete this.parts.readout.steps.dataset.trainingPaused;
      this.worker.postMessage({ type: "run", settings: this.settings() });
      this.running(true);
    }

    async begin() {
      if (this.worker) return this.run();
      this.running(true);
      this.parts.readout.status.textContent = "Loading the digits…";
      const digits = await loadDigits();
      this.worker = makeWorker();
      this.worker.onmessage = ({ data: message }) => HANDLERS[message.type](message, this.parts, this);
      this.worker.postMessage(setUpMessage(this.network(), this.start.seed, this.settings(), digits));
    }

    pause() {
      this.worker.postMessage({ type: "pause" });
      this.running(false);
      this.parts.readout.status.textContent = "Pausing…";
    }

    reset() {
      clearReadout(this.parts);
      this.latestAccuracy = null;
      this.running(false);
      delete this.parts.readout.steps.dataset.trainingPaused;
      if (this.worker) this.worker.postMessage({ type: "reset", settings: this.settings() });
      this.parts.readout.status.textContent = "Back to the starting weights.";
    }

    showRecipe() {
      this.parts.controls.rate.value = String(this.network().recipe.lr);
      this.parts.controls.batch.value = String(this.network().recipe.batchSize);
    }

    changeNetwork() {
      if (this.worker) this.worker.terminate();
      this.worker = null;
      this.showRecipe();
      this.reset();
    }

    useWeights() {
      if (!this.worker || this.latestAccuracy === null) return;
      this.worker.postMessage({ type: "weights", accuracy: this.latestAccuracy });
    }
  }

  function setUp(root) {
    const start = window.nnbookTrainStart;
    if (!start) {
      root.append(element("p", {}, "This build wrote no starting weights for the page."));
      return;
    }
    const names = Object.keys(start.networks);
    names.sort((a, b) => (b === start.first) - (a === start.first)); // the first one first
    const parts = { controls: makeControls(names), readout: makeReadout(), chart: makeChart(), view: makeView() };
    root.append(parts.controls.element, parts.readout.element, parts.chart.element, parts.view.element);
    const session = new Session(parts, start);
    const { buttons, choice } = parts.controls;
    buttons.train.addEventListener("click", () => session.begin().catch((error) => (parts.readout.status.textContent = String(error))));
    buttons.pause.addEventListener("click", () => session.pause());
    buttons.reset.addEventListener("click", () => session.reset());
    choice.addEventListener("change", () => session.changeNetwork());
    parts.readout.use.addEventListener("click", () => session.useWeights());
    session.showRecipe();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-nnbook-train]").forEach(setUp);
  });
})();
