// The numbers of Part 2 in the page: every layer of the book's networks forward and backward in
// plain JavaScript (float64), as nnbook.mnist.manual has them in NumPy.
//
// Each kind of layer is a pair: its forward returns {y, cache}, what its backward needs; its
// backward takes δ = ∂L/∂y and returns {dx, grads}, ∂L/∂x and the gradients of its own
// parameters. A tensor is {n, c, h, w, data}, data a Float64Array in N × C × H × W order.
// lossAndGradients and inputGradient walk a network exported by the build
// (nnbook.mnist.export: its layers in order, its state dict) through these pairs; sgdStep is one
// step of torch.optim.SGD. Everything here is also what the page's training Worker runs: the
// whole module is one function, nnbookLayersModule, which the Worker is built from.
"use strict";

function nnbookLayersModule(scope) {
  const SIDE = 28; // every network reads 28 × 28 images
  const CLASSES = 10;

  const tensor = (n, c, h, w, data) => ({ n, c, h, w, data: data || new Float64Array(n * c * h * w) });

  // ---------------------------------------------------------------------------------------
  // Convolution, stride 1, zero padding. The input is padded once; each output row is then
  // computed over the padded width W (the last k − 1 columns of a row are thrown away), so
  // that the innermost loop runs over a whole channel: y'[t] += Σ_p,q w[p,q] · x_pad[t + p·W + q]
  // for t = i·W + j. For a 3 × 3 kernel the nine products are written out.

  function pad(x, padding) {
    const H = x.h + 2 * padding;
    const W = x.w + 2 * padding;
    const padded = new Float64Array(x.n * x.c * H * W);
    for (let plane = 0; plane < x.n * x.c; plane++) {
      for (let i = 0; i < x.h; i++) {
        const from = (plane * x.h + i) * x.w;
        padded.set(x.data.subarray(from, from + x.w), (plane * H + i + padding) * W + padding);
      }
    }
    return { padded, H, W };
  }

  // A grouped convolution: the C input and O output channels split into G equal groups, and
  // output channel o sees only the C/G input channels of its own group, from
  //   first(o) = ⌊o / (O/G)⌋ · C/G;
  // the weight is O × C/G × k × k, as PyTorch keeps it. G = 1 is the ordinary convolution
  // (first(o) = 0, every output sees every input); G = C is a depthwise one (a k × k kernel
  // per channel). The layer's numbers are checked here, once, before any is used.
  function convGeometry(layer, x, weight) {
    const { name } = layer;
    // an export written before layers carried their groups has none: every one was ordinary
    const groups = layer.groups === undefined ? 1 : layer.groups;
    check(Number.isInteger(groups) && groups >= 1, `layer ${name}: groups must be a whole number ≥ 1, not ${groups}`);
    check(weight && weight.shape && weight.shape.length === 4, `layer ${name}: the weight must be O × C/groups × k × k`);
    const [out, perGroup, k, k2] = weight.shape;
    check(k === k2, `layer ${name}: the kernel must be square, not ${k} × ${k2}`);
    check(x.c % groups === 0, `layer ${name}: groups = ${groups} does not divide its ${x.c} input channels`);
    check(out % groups === 0, `layer ${name}: groups = ${groups} does not divide its ${out} output channels`);
    check(
      perGroup === x.c / groups,
      `layer ${name}: its weight sees ${perGroup} input channels per output, but ${x.c} channels in ${groups} groups are ${x.c / groups}`,
    );
    check(x.h + 2 * layer.padding >= k && x.w + 2 * layer.padding >= k, `layer ${name}: a ${k} × ${k} kernel is larger than its padded ${x.h} × ${x.w} input`);
    return { out, perGroup, k, outPerGroup: out / groups };
  }

  // the channel of x that input c of output o's group is: first(o) + c
  const firstInput = (o, geometry) => Math.floor(o / geometry.outPerGroup) * geometry.perGroup;

  // y[n,o,i,j] = b[o] + Σ_{c < C/G} Σ_p Σ_q w[o,c,p,q] · x_pad[n, first(o) + c, i+p, j+q]
  function convForward(x, weight, bias, padding, geometry) {
    const { out, perGroup, k } = geometry;
    const { padded, H, W } = pad(x, padding);
    const h = H - k + 1;
    const w = W - k + 1;
    const span = (h - 1) * W + w; // every t = i·W + j with i < h, j < w, and the gaps
    const y = tensor(x.n, out, h, w);
    const wide = new Float64Array(h * W);
    for (let n = 0; n < x.n; n++) {
      for (let o = 0; o < out; o++) {
        wide.fill(bias ? bias.data[o] : 0);
        const first = firstInput(o, geometry);
        for (let c = 0; c < perGroup; c++) {
          const at = (o * perGroup + c) * k * k; // w[o, c, 0, 0]
          const r0 = (n * x.c + first + c) * H * W; // x_pad[n, first(o) + c, 0, 0]
          addCorrelation(wide, weight.data, at, k, padded, r0, W, span);
        }
        const base = (n * out + o) * h * w;
        for (let i = 0; i < h; i++) y.data.set(wide.subarray(i * W, i * W + w), base + i * w);
      }
    }
    return { y, cache: { padded, H, W, x, weight, padding, geometry, hasBias: Boolean(bias) } };
  }

  // y'[t] += Σ_p,q w[o,c,p,q] · x_pad[c, t + p·W + q], the nine products of a 3 × 3 kernel
  // written out
  function addCorrelation(wide, kernel, at, k, padded, r0, W, span) {
    if (k !== 3) {
      for (let p = 0; p < k; p++) {
        for (let q = 0; q < k; q++) {
          const value = kernel[at + p * k + q];
          const shift = r0 + p * W + q;
          for (let t = 0; t < span; t++) wide[t] += value * padded[shift + t];
        }
      }
      return;
    }
    const [w0, w1, w2, w3, w4, w5, w6, w7, w8] = kernel.subarray(at, at + 9);
    const r1 = r0 + W;
    const r2 = r1 + W;
    for (let t = 0; t < span; t++) {
      wide[t] +=
        w0 * padded[r0 + t] + w1 * padded[r0 + t + 1] + w2 * padded[r0 + t + 2] +
        w3 * padded[r1 + t] + w4 * padded[r1 + t + 1] + w5 * padded[r1 + t + 2] +
        w6 * padded[r2 + t] + w7 * padded[r2 + t + 1] + w8 * padded[r2 + t + 2];
    }
  }

  // ∂L/∂w[o,c,p,q] = Σ_n Σ_t δ'[n,o,t] · x_pad[n, first(o) + c, t + p·W + q]
  //   (δ' = δ laid over width W; c < C/G)
  // ∂L/∂b[o] = Σ δ[n,o,·,·]
  // ∂L/∂x_pad[n, first(o) + c, s] = Σ_{o of the group} Σ_p,q w[o,c,p,q] · δ'[n,o,s − p·W − q]:
  // the correlation of the zero-padded δ with the kernel flipped in both directions, over the
  // outputs of the input's group only; x's gradient is its middle.
  function convBackward(delta, cache, needInput) {
    const { padded, H, W, x, weight, geometry } = cache;
    const { out, perGroup, k } = geometry;
    const offset = (k - 1) * (W + 1); // δ' is read at s − p·W − q ≥ −offset
    const wide = new Float64Array(offset + H * W); // δ'[t] at wide[offset + t], zeros around
    const span = (delta.h - 1) * W + delta.w;
    const gradW = new Float64Array(weight.data.length);
    const gradB = new Float64Array(out);
    const gradPad = needInput ? new Float64Array(padded.length) : null;
    for (let n = 0; n < x.n; n++) {
      for (let o = 0; o < out; o++) {
        gradB[o] += layOver(delta, n, o, wide, offset, W); // δ' of image n, channel o
        const first = firstInput(o, geometry);
        for (let c = 0; c < perGroup; c++) {
          const at = (o * perGroup + c) * k * k; // w[o, c, 0, 0]
          const r0 = (n * x.c + first + c) * H * W; // x_pad[n, first(o) + c, 0, 0]
          addWeightGradient(gradW, at, k, wide, offset, padded, r0, W, span);
          if (needInput) addInputGradient(gradPad, r0, H * W, weight.data, at, k, wide, offset, W);
        }
      }
    }
    const grads = cache.hasBias ? { weight: gradW, bias: gradB } : { weight: gradW };
    return { dx: needInput ? unpad(gradPad, x, cache.padding, H, W) : null, grads };
  }

  // δ of image n, channel o laid over the padded width W (zeros in the gaps); returns its sum
  function layOver(delta, n, o, wide, offset, W) {
    const { c, h, w } = delta;
    const base = (n * c + o) * h * w;
    let sum = 0;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const d = delta.data[base + i * w + j];
        wide[offset + i * W + j] = d;
        sum += d;
      }
    }
    return sum;
  }

  // ∂L/∂w[o,c,·,·] += Σ_t δ'[t] · x_pad[c, t + p·W + q], the nine sums of a 3 × 3 kernel in one pass
  function addWeightGradient(gradW, at, k, wide, offset, padded, r0, W, span) {
    if (k !== 3) {
      for (let pq = 0; pq < k * k; pq++) {
        const shift = r0 + Math.floor(pq / k) * W + (pq % k);
        let sum = 0;
        for (let t = 0; t < span; t++) sum += wide[offset + t] * padded[shift + t];
        gradW[at + pq] += sum;
      }
      return;
    }
    let [s0, s1, s2, s3, s4, s5, s6, s7, s8] = [0, 0, 0, 0, 0, 0, 0, 0, 0];
    const [r1, r2] = [r0 + W, r0 + 2 * W];
    for (let t = 0; t < span; t++) {
      const d = wide[offset + t];
      s0 += d * padded[r0 + t]; s1 += d * padded[r0 + t + 1]; s2 += d * padded[r0 + t + 2];
      s3 += d * padded[r1 + t]; s4 += d * padded[r1 + t + 1]; s5 += d * padded[r1 + t + 2];
      s6 += d * padded[r2 + t]; s7 += d * padded[r2 + t + 1]; s8 += d * padded[r2 + t + 2];
    } // prettier-ignore
    [s0, s1, s2, s3, s4, s5, s6, s7, s8].forEach((sum, pq) => (gradW[at + pq] += sum));
  }

  // ∂L/∂x_pad[c, s] += Σ_p,q w[o,c,p,q] · δ'[s − p·W − q], written out for a 3 × 3 kernel
  function addInputGradient(gradPad, r0, size, kernel, at, k, wide, offset, W) {
    if (k !== 3) {
      for (let pq = 0; pq < k * k; pq++) {
        const shift = offset - Math.floor(pq / k) * W - (pq % k);
        for (let s = 0; s < size; s++) gradPad[r0 + s] += kernel[at + pq] * wide[shift + s];
      }
      return;
    }
    const [w0, w1, w2, w3, w4, w5, w6, w7, w8] = kernel.subarray(at, at + 9);
    const [d0, d1, d2] = [offset, offset - W, offset - 2 * W];
    for (let s = 0; s < size; s++) {
      gradPad[r0 + s] +=
        w0 * wide[d0 + s] + w1 * wide[d0 + s - 1] + w2 * wide[d0 + s - 2] +
        w3 * wide[d1 + s] + w4 * wide[d1 + s - 1] + w5 * wide[d1 + s - 2] +
        w6 * wide[d2 + s] + w7 * wide[d2 + s - 1] + w8 * wide[d2 + s - 2];
    }
  }

  // the gradient of x: the middle of the padded input's
  function unpad(gradPad, x, padding, H, W) {
    const dx = tensor(x.n, x.c, x.h, x.w);
    for (let plane = 0; plane < x.n * x.c; plane++) {
      for (let i = 0; i < x.h; i++) {
        const from = (plane * H + i + padding) * W + padding;
        dx.data.set(gradPad.subarray(from, from + x.w), (plane * x.h + i) * x.w);
      }
    }
    return dx;
  }

  // ---------------------------------------------------------------------------------------
  // ReLU: y = max(x, 0); ∂L/∂x = δ · 1[x > 0]

  function reluForward(x) {
    const y = tensor(x.n, x.c, x.h, x.w);
    for (let k = 0; k < y.data.length; k++) y.data[k] = x.data[k] > 0 ? x.data[k] : 0;
    return { y, cache: y }; // the output is positive exactly where the input was
  }

  function reluBackward(delta, y) {
    const dx = tensor(delta.n, delta.c, delta.h, delta.w);
    for (let k = 0; k < dx.data.length; k++) dx.data[k] = y.data[k] > 0 ? delta.data[k] : 0;
    return { dx, grads: {} };
  }

  // ---------------------------------------------------------------------------------------
  // Batch normalisation, per channel over the batch and the pixels.
  // Training: x̂ = (x − μ)/√(var + ε) with the batch's mean and biased variance; y = γ·x̂ + β.
  // Evaluation: the running mean and variance instead of the batch's.

  function channelLoop(x, body) {
    const size = x.h * x.w;
    for (let c = 0; c < x.c; c++) {
      for (let n = 0; n < x.n; n++) body(c, (n * x.c + c) * size, size);
    }
  }

  function batchNormForward(x, gamma, beta, eps, running) {
    const count = x.n * x.h * x.w;
    const mean = new Float64Array(x.c);
    const variance = new Float64Array(x.c);
    if (running) {
      mean.set(running.mean.data);
      variance.set(running.variance.data);
    } else {
      channelLoop(x, (c, from, size) => {
        for (let k = from; k < from + size; k++) mean[c] += x.data[k] / count;
      });
      channelLoop(x, (c, from, size) => {
        for (let k = from; k < from + size; k++) variance[c] += (x.data[k] - mean[c]) ** 2 / count;
      });
    }
    const invStd = variance.map((v) => 1 / Math.sqrt(v + eps));
    const xHat = tensor(x.n, x.c, x.h, x.w);
    const y = tensor(x.n, x.c, x.h, x.w);
    channelLoop(x, (c, from, size) => {
      const g = gamma ? gamma.data[c] : 1;
      const b = beta ? beta.data[c] : 0;
      for (let k = from; k < from + size; k++) {
        xHat.data[k] = (x.data[k] - mean[c]) * invStd[c];
        y.data[k] = g * xHat.data[k] + b;
      }
    });
    const statistics = { mean, variance: variance.map((v) => (v * count) / Math.max(count - 1, 1)) };
    return { y, cache: { xHat, invStd, gamma, training: !running, count, statistics } };
  }

  // ∂L/∂γ = Σ δ·x̂, ∂L/∂β = Σ δ, and in training
  // ∂L/∂x = γ/σ · (δ − mean(δ) − x̂ · mean(δ·x̂)), means over the batch and the pixels;
  // in evaluation the statistics are constants: ∂L/∂x = γ/σ · δ.
  function batchNormBackward(delta, cache) {
    const { xHat, invStd, gamma, training, count } = cache;
    const gradGamma = new Float64Array(delta.c);
    const gradBeta = new Float64Array(delta.c);
    channelLoop(delta, (c, from, size) => {
      for (let k = from; k < from + size; k++) {
        gradGamma[c] += delta.data[k] * xHat.data[k];
        gradBeta[c] += delta.data[k];
      }
    });
    const dx = tensor(delta.n, delta.c, delta.h, delta.w);
    channelLoop(delta, (c, from, size) => {
      const scale = (gamma ? gamma.data[c] : 1) * invStd[c];
      const meanDelta = training ? gradBeta[c] / count : 0;
      const meanDeltaXHat = training ? gradGamma[c] / count : 0;
      for (let k = from; k < from + size; k++) {
        dx.data[k] = scale * (delta.data[k] - meanDelta - xHat.data[k] * meanDeltaXHat);
      }
    });
    return { dx, grads: gamma ? { weight: gradGamma, bias: gradBeta } : {} };
  }

  // ---------------------------------------------------------------------------------------
  // Pooling over non-overlapping size × size windows (rows and columns that fill none dropped)
  // max: y = the largest of each window (the first of equal ones, as PyTorch picks);
  //      ∂L/∂x = δ at each window's maximum, 0 at its other pixels
  // average: y = the mean of each window; ∂L/∂x = δ / size² at every pixel of it

  function poolForward(x, size, kind) {
    const h = Math.floor(x.h / size);
    const w = Math.floor(x.w / size);
    const y = tensor(x.n, x.c, h, w);
    const winner = kind === "max" ? new Int32Array(y.data.length) : null;
    for (let plane = 0; plane < x.n * x.c; plane++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          let best = -Infinity;
          let where = -1;
          let sum = 0;
          for (let p = 0; p < size; p++) {
            for (let q = 0; q < size; q++) {
              const at = (plane * x.h + i * size + p) * x.w + j * size + q;
              const v = x.data[at];
              if (v > best) [best, where] = [v, at];
              sum += v;
            }
          }
          const out = (plane * h + i) * w + j;
          y.data[out] = kind === "max" ? best : sum / (size * size);
          if (winner) winner[out] = where;
        }
      }
    }
    return { y, cache: { x, size, winner } };
  }

  function poolBackward(delta, cache) {
    const { x, size, winner } = cache;
    const dx = tensor(x.n, x.c, x.h, x.w);
    if (winner) {
      for (let out = 0; out < delta.data.length; out++) dx.data[winner[out]] += delta.data[out];
      return { dx, grads: {} };
    }
    const { h, w } = delta;
    for (let plane = 0; plane < x.n * x.c; plane++) {
      for (let i = 0; i < h * size; i++) {
        for (let j = 0; j < w * size; j++) {
          const share = delta.data[(plane * h + Math.floor(i / size)) * w + Math.floor(j / size)];
          dx.data[(plane * x.h + i) * x.w + j] = share / (size * size);
        }
      }
    }
    return { dx, grads: {} };
  }

  // ---------------------------------------------------------------------------------------
  // Dropout with a given mask m (0 for a dropped unit, 1/(1 − p) for a kept one):
  // y = x · m; ∂L/∂x = δ · m. In evaluation (and with no mask) it passes everything on.

  function dropoutForward(x, mask) {
    if (!mask) return { y: x, cache: null };
    const y = tensor(x.n, x.c, x.h, x.w);
    for (let k = 0; k < y.data.length; k++) y.data[k] = x.data[k] * mask[k];
    return { y, cache: mask };
  }

  function dropoutBackward(delta, mask) {
    if (!mask) return { dx: delta, grads: {} };
    const dx = tensor(delta.n, delta.c, delta.h, delta.w);
    for (let k = 0; k < dx.data.length; k++) dx.data[k] = delta.data[k] * mask[k];
    return { dx, grads: {} };
  }

  // ---------------------------------------------------------------------------------------
  // Log-softmax and the mean negative log-likelihood of the correct digit:
  // log p = z − log Σ exp z (shifted by max z); L = −(1/N) Σ_n log p[n, y_n];
  // ∂L/∂z = (softmax(z) − onehot(y)) / N

  function logSoftmax(scores, classes) {
    const logP = new Float64Array(scores.length);
    for (let n = 0; n < scores.length / classes; n++) {
      const row = scores.subarray(n * classes, (n + 1) * classes);
      const top = Math.max(...row);
      let sum = 0;
      for (const z of row) sum += Math.exp(z - top);
      const logSum = top + Math.log(sum);
      for (let d = 0; d < classes; d++) logP[n * classes + d] = row[d] - logSum;
    }
    return logP;
  }

  function nllForwardBackward(scores, labels, classes) {
    const logP = logSoftmax(scores, classes);
    const count = labels.length;
    let loss = 0;
    const grad = new Float64Array(scores.length);
    for (let n = 0; n < count; n++) {
      loss -= logP[n * classes + labels[n]] / count;
      for (let d = 0; d < classes; d++) grad[n * classes + d] = Math.exp(logP[n * classes + d]) / count;
      grad[n * classes + labels[n]] -= 1 / count;
    }
    return { loss, grad };
  }

  // ---------------------------------------------------------------------------------------
  // Walking an exported network: one entry per kind of layer, its forward and its backward

  const KINDS = {
    conv: {
      forward: (layer, x, at) => {
        const weight = at(layer.weight);
        return convForward(x, weight, at(layer.bias), layer.padding, convGeometry(layer, x, weight));
      },
      backward: (delta, cache, needInput) => convBackward(delta, cache, needInput),
    },
    relu: { forward: (layer, x) => reluForward(x), backward: reluBackward },
    batchnorm: {
      forward: (layer, x, at, mode) =>
        batchNormForward(
          x, at(layer.weight), at(layer.bias), layer.eps,
          mode.training ? null : { mean: at(layer.mean), variance: at(layer.var) },
        ), // prettier-ignore
      backward: batchNormBackward,
    },
    maxpool: { forward: (layer, x) => poolForward(x, layer.size, "max"), backward: poolBackward },
    avgpool: { forward: (layer, x) => poolForward(x, layer.size, "mean"), backward: poolBackward },
    dropout: {
      forward: (layer, x, at, mode) => dropoutForward(x, mode.masks ? mode.masks[layer.index] : null),
      backward: dropoutBackward,
    },

  };

  function kindOf(layer) {
    const kind = KINDS[layer.kind];
    if (!kind) throw new Error(`layer ${layer.name} is of a kind the page does not know: ${layer.kind}`);
    return kind;
  }

  // The layers in order on x, in training mode (batch statistics, the given dropout masks) or
  // in evaluation mode (running statistics, no unit dropped). Returns every layer's output and
  // cache.
  function forward(model, state, x, mode) {
    const at = (key) => (key ? state[key] : null);
    let dropouts = 0;
    const steps = [];
    for (const layer of model.layers) {
      const indexed = layer.kind === "dropout" ? { ...layer, index: dropouts++ } : layer;
      const { y, cache } = kindOf(layer).forward(indexed, x, at, mode);
      steps.push({ layer, y, cache });
      x = y;
    }
    return steps;
  }

  // The chain rule from the last layer to the first: δ goes backwards through every layer, and
  // each layer with parameters adds their gradients, named as in named_parameters().
  function backward(steps, gradScores, needInput) {
    const grads = {};
    let delta = { ...steps[steps.length - 1].y, data: gradScores };
    for (let index = steps.length - 1; index >= 0; index--) {
      const { layer, cache } = steps[index];
      const { dx, grads: own } = kindOf(layer).backward(delta, cache, needInput || index > 0);
      for (const [local, grad] of Object.entries(own)) grads[layer[local]] = grad;
      delta = dx;
    }
    return { grads, inputGradient: delta };
  }

  // ---------------------------------------------------------------------------------------
  // Checks: bad input is an Error that names what is wrong, never a NaN

  function check(condition, message) {
    if (!condition) throw new Error(message);
  }

  function isNumbers(values) {
    return (Array.isArray(values) || ArrayBuffer.isView(values)) && values.length !== undefined;
  }

  function checkNumbers(values, length, what) {
    check(isNumbers(values), `${what} must be an array of numbers`);
    check(values.length === length, `${what} must hold ${length} numbers, not ${values.length}`);
    for (let k = 0; k < values.length; k++) {
      if (typeof values[k] !== "number" || !Number.isFinite(values[k])) {
        throw new Error(`${what}[${k}] is not a finite number: ${values[k]}`);
      }
    }
  }

  // The model's parameters: the state-dict keys of the layers' weights and biases, in order
  function parameterKeys(model) {
    const keys = [];
    for (const layer of model.layers) {
      for (const local of ["weight", "bias"]) if (layer[local]) keys.push(layer[local]);
    }
    return keys;
  }

  function stateKeys(model) {
    const keys = parameterKeys(model);
    for (const layer of model.layers) if (layer.kind === "batchnorm") keys.push(layer.mean, layer.var);
    return keys;
  }

  function checkState(model, state, shapes) {
    check(state && typeof state === "object", "state must be a state dict: key → {shape, data}");
    for (const key of stateKeys(model)) {
      const entry = state[key];
      check(entry && entry.shape && entry.data, `state has no entry ${key}`);
      const expected = shapes[key];
      check(
        String(entry.shape) === String(expected),
        `state ${key} has shape [${entry.shape}], the network's is [${expected}]`,
      );
      checkNumbers(entry.data, expected.reduce((a, b) => a * b, 1), `state ${key}.data`);
    }
  }

  function checkLabels(labels, count) {
    check(isNumbers(labels), "labels must be an array of whole numbers");
    check(labels.length === count, `labels must hold ${count} digits, one per image, not ${labels.length}`);
    labels.forEach((label, k) => {
      check(Number.isInteger(label) && label >= 0 && label < CLASSES, `label ${k} is ${label}: not a digit 0..9`);
    });
  }

  // the shape of each Dropout layer's output for a batch of `count`, from a forward pass in
  // evaluation mode of one image (shapes do not depend on the mode)
  function checkMasks(model, steps, masks, count) {
    const dropouts = steps.filter((step) => step.layer.kind === "dropout");
    if (masks === null || masks === undefined) return null;
    check(Array.isArray(masks), "masks must be null or one array per Dropout layer");
    check(
      masks.length === dropouts.length,
      `${masks.length} masks for the ${dropouts.length} Dropout layers of the network`,
    );
    return masks.map((mask, index) => {
      const { layer, y } = dropouts[index];
      const size = count * y.c * y.h * y.w;
      check(isNumbers(mask), `the mask of ${layer.name} must be an array`);
      check(
        mask.length === size,
        `the mask of ${layer.name} must hold ${size} numbers (${count} × ${y.c} × ${y.h} × ${y.w}), not ${mask.length}`,
      );
      const keep = 1 / (1 - layer.p);
      for (let k = 0; k < mask.length; k++) {
        if (mask[k] !== 0 && Math.abs(mask[k] - keep) > 1e-12 * keep) {
          throw new Error(`the mask of ${layer.name} holds ${mask[k]} at ${k}: only 0 or 1/(1 − p) = ${keep}`);
        }
      }
      return Float64Array.from(mask);
    });
  }

  function normalised(model, pixels, count) {
    checkNumbers(pixels, count * SIDE * SIDE, `pixels (${count} images × ${SIDE * SIDE} ink values)`);
    const x = tensor(count, 1, SIDE, SIDE);
    for (let k = 0; k < x.data.length; k++) {
      check(pixels[k] >= 0 && pixels[k] <= 1, `pixels[${k}] is ${pixels[k]}: ink lies in [0, 1]`);
      x.data[k] = (pixels[k] - model.mean) / model.std;
    }
    return x;
  }

  // the state with every entry's data a Float64Array (plain arrays are copied once)
  function asState(state) {
    const view = {};
    for (const [key, entry] of Object.entries(state)) {
      const data = entry.data instanceof Float64Array ? entry.data : Float64Array.from(entry.data);
      view[key] = { shape: entry.shape, data };
    }
    return view;
  }

  // ---------------------------------------------------------------------------------------
  // What a check outside the page uses: window.nnbookTraining (see the contract in the book)

  // The loss of one batch in training mode and ∂L/∂θ for every parameter; also the batch
  // statistics each batch normalisation saw (its running statistics move towards them).
  function lossAndGradientsOf(model, shapes, state, pixels, labels, masks) {
    checkState(model, state, shapes);
    const count = labels && labels.length;
    checkLabels(labels, count);
    check(count > 0, "a batch holds at least one image");
    const x = normalised(model, pixels, count);
    const values = asState(state);
    const probe = forward(model, values, tensor(1, 1, SIDE, SIDE), { training: false });
    const checkedMasks = checkMasks(model, probe, masks, count);
    const steps = forward(model, values, x, { training: true, masks: checkedMasks });
    const scores = steps[steps.length - 1].y;
    check(scores.c === CLASSES && scores.h * scores.w === 1, "the network does not end in 10 scores");
    const { loss, grad } = nllForwardBackward(scores.data, labels, CLASSES);
    const { grads } = backward(steps, grad, false);
    const gradients = {};
    for (const key of parameterKeys(model)) gradients[key] = { shape: shapes[key].slice(), data: grads[key] };
    const statistics = steps
      .filter((step) => step.layer.kind === "batchnorm")
      .map((step) => ({ layer: step.layer, ...step.cache.statistics }));
    return { loss, gradients, statistics };
  }

  // One step of torch.optim.SGD (no dampening), every parameter of `gradients`:
  // d = ∂L/∂w + λ·w; b ← d on the first step, else μ·b + d; w ← w − η·(d + μ·b) with Nesterov,
  // w ← w − η·b without. The other entries of `state` are copied unchanged.
  function sgdStep(state, gradients, buffers, options) {
    const { lr, momentum = 0, weightDecay = 0, nesterov = false } = options || {};
    check(Number.isFinite(lr) && lr > 0, `lr must be a finite positive number, not ${lr}`);
    check(Number.isFinite(momentum) && momentum >= 0 && momentum < 1, `momentum must lie in [0, 1), not ${momentum}`);
    check(Number.isFinite(weightDecay) && weightDecay >= 0, `weightDecay must be 0 or more, not ${weightDecay}`);
    check(typeof nesterov === "boolean", "nesterov must be true or false");
    check(!nesterov || momentum > 0, "Nesterov momentum needs a momentum above 0");
    check(state && gradients, "sgdStep takes a state, its gradients, buffers (or null), options");
    const newState = {};
    for (const [key, entry] of Object.entries(state)) newState[key] = { shape: entry.shape.slice(), data: Float64Array.from(entry.data) };
    const newBuffers = {};
    for (const [key, gradient] of Object.entries(gradients)) {
      const weight = state[key];
      check(weight, `the gradients name ${key}, which the state does not hold`);
      checkNumbers(gradient.data, weight.data.length, `gradient ${key}.data`);
      const previous = buffers ? buffers[key] : null;
      check(!buffers || previous, `the buffers hold nothing for ${key}`);
      if (previous) checkNumbers(previous.data, weight.data.length, `buffer ${key}.data`);
      const w = newState[key].data;
      const b = new Float64Array(w.length);
      for (let k = 0; k < w.length; k++) {
        const d = gradient.data[k] + weightDecay * weight.data[k]; // d = ∂L/∂w + λ·w
        b[k] = previous && momentum > 0 ? momentum * previous.data[k] + d : d; // b ← μ·b + d
        const step = momentum === 0 ? d : nesterov ? d + momentum * b[k] : b[k];
        w[k] = weight.data[k] - lr * step; // w ← w − η·step
      }
      newBuffers[key] = { shape: weight.shape.slice(), data: b };
    }
    return { state: newState, buffers: newBuffers };
  }

  // PyTorch's OneCycleLR: the rate rises from lr/divFactor to lr over pctStart of the steps,
  // then falls to lr/divFactor/finalDivFactor, both halves cosine; momentum moves the other way
  function oneCycle(recipe, step, total) {
    const cosine = (from, to, pct) => to + ((from - to) / 2) * (Math.cos(Math.PI * pct) + 1);
    const initial = recipe.lr / recipe.divFactor;
    const rise = recipe.pctStart * total - 1;
    if (step <= rise) {
      const pct = step / rise;
      return { lr: cosine(initial, recipe.lr, pct), momentum: cosine(recipe.maxMomentum, recipe.baseMomentum, pct) };
    }
    const pct = (step - rise) / (total - 1 - rise);
    const lr = cosine(recipe.lr, initial / recipe.finalDivFactor, pct);
    return { lr, momentum: cosine(recipe.baseMomentum, recipe.maxMomentum, pct) };
  }

  // The running statistics after a training step: r ← (1 − m)·r + m·(the batch's statistic),
  // the variance unbiased (PyTorch's BatchNorm2d, momentum m = 0.1)
  function updateRunning(state, statistics, momentum) {
    for (const { layer, mean, variance } of statistics) {
      const runningMean = state[layer.mean].data;
      const runningVar = state[layer.var].data;
      for (let c = 0; c < mean.length; c++) {
        runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean[c];
        runningVar[c] = (1 - momentum) * runningVar[c] + momentum * variance[c];
      }
    }
  }

  // The log-probabilities of each image in evaluation mode, and every layer's output
  function evaluateOf(model, state, pixels, count) {
    const x = normalised(model, pixels, count);
    const steps = forward(model, asState(state), x, { training: false });
    const scores = steps[steps.length - 1].y;
    return { steps, logProbabilities: logSoftmax(scores.data, CLASSES) };
  }

  // ∂ log p(digit) / ∂(ink value) of one image in evaluation mode: the input's own δ, through
  // x = (ink − mean)/std, ∂x/∂ink = 1/std
  function inputGradientOf(model, shapes, state, pixels, digit) {
    checkState(model, state, shapes);
    check(Number.isInteger(digit) && digit >= 0 && digit < CLASSES, `digit is ${digit}: not 0..9`);
    const { steps, logProbabilities } = evaluateOf(model, state, pixels, 1);
    const grad = new Float64Array(CLASSES);
    for (let d = 0; d < CLASSES; d++) grad[d] = (d === digit ? 1 : 0) - Math.exp(logProbabilities[d]);
    const { inputGradient } = backward(steps, grad, true);
    return Float64Array.from(inputGradient.data, (g) => g / model.std);
  }

  // ---------------------------------------------------------------------------------------
  // The exported networks (window.nnbookDigitModels, written by the build): the state dict is
  // base64 little-endian float32 (int64 for counters), decoded once to Float64Array

  function decode(entry) {
    const bytes = Uint8Array.from(atob(entry.data), (c) => c.charCodeAt(0));
    const values =
      entry.dtype === "int64"
        ? Array.from(new BigInt64Array(bytes.buffer), Number)
        : new Float32Array(bytes.buffer);
    return Float64Array.from(values);
  }

  function decodeState(encoded) {
    const state = {};
    for (const [key, entry] of Object.entries(encoded)) state[key] = { shape: entry.shape, data: decode(entry) };
    return state;
  }

  function shapesOf(model) {
    return Object.fromEntries(Object.entries(model.state).map(([key, entry]) => [key, entry.shape]));
  }

  // A network the page knows by name: one exported for drawing (its trained weights), else one
  // "Train it here" starts from (window.nnbookTrainStart: the same layers, its first weights)
  function exported(name) {
    const drawn = scope.nnbookDigitModels || {};
    const started = (scope.nnbookTrainStart || {}).networks || {};
    const model = Object.hasOwn(drawn, name) ? drawn[name] : Object.hasOwn(started, name) ? started[name] : null;
    if (!model || !model.layers) {
      const known = [...new Set([...Object.keys(drawn), ...Object.keys(started)])].join(", ");
      throw new Error(`no network named ${name} was exported to this page (it has ${known})`);
    }
    return model;
  }

  const decoded = {};
  function stateDict(name) {
    const model = exported(name);
    if (!decoded[name] || decoded[name].from !== model.state) {
      decoded[name] = { from: model.state, state: model.decoded || decodeState(model.state) };
    }
    return decoded[name].state;
  }

  scope.nnbookLayers = {
    SIDE,
    CLASSES,
    tensor,
    forward,
    backward,
    evaluateOf,
    lossAndGradientsOf,
    inputGradientOf,
    parameterKeys,
    sgdStep,
    updateRunning,
    oneCycle,
    decodeState,
    exported,
    stateDict,
    shapesOf,
  };

  // The contract a check outside the page uses: networks by their exported names
  scope.nnbookTraining = {
    lossAndGradients(name, state, pixels, labels, masks) {
      const model = exported(name);
      const { loss, gradients } = lossAndGradientsOf(model, shapesOf(model), state, pixels, labels, masks);
      return { loss, gradients };
    },
    sgdStep,
    inputGradient(name, pixels, digit) {
      const model = exported(name);
      return Array.from(inputGradientOf(model, shapesOf(model), stateDict(name), pixels, digit));
    },
  };
}

nnbookLayersModule(typeof window === "undefined" ? self : window);
