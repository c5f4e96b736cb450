// Page logic of the backpropagation calculator and the η explorer. No formula lives here: the
// forward pass, the gradients and the update step come from window.nnbookNetwork, which
// nnbook.calculator prints from the SymPy derivation into _static/nnbook-network.js.
(function () {
  "use strict";

  function network() {
    return window.nnbookNetwork;
  }

  // Rows 0..N as objects with the command line's columns; stops early if E_total overflows.
  function run(start, eta, iterations, trainBiases) {
    const rows = [];
    let p = Object.assign({}, start);
    for (let k = 0; k <= iterations; k++) {
      const computed = network().row(p);
      rows.push(Object.assign({ iteration: k }, p, computed));
      if (!Number.isFinite(computed.E_total)) break;
      if (k < iterations) {
        p = Object.assign({}, p, network().next(p, computed, eta, trainBiases ? 1 : 0));
      }
    }
    return rows;
  }

  function readNumber(form, name, problems) {
    const field = form.elements[name];
    const value = Number(field.value);
    if (field.value.trim() === "" || !Number.isFinite(value)) {
      problems.push(`${name} must be a finite number`);
      field.setAttribute("aria-invalid", "true");
    } else {
      field.removeAttribute("aria-invalid");
    }
    return value;
  }

  function readForm(form) {
    const problems = [];
    const start = {};
    for (const name of network().PARAMETERS) start[name] = readNumber(form, name, problems);
    const eta = readNumber(form, "eta", problems);
    const iterations = readNumber(form, "iterations", problems);
    if (Number.isFinite(eta) && eta <= 0) problems.push("η must be positive");
    const most = network().MAX_ITERATIONS; // nnbook.calculator.PAGE_MAX_ITERATIONS
    if (!Number.isInteger(iterations) || iterations < 0 || iterations > most) {
      problems.push(`N must be a whole number from 0 to ${most}`);
    }
    const trainBiases = form.elements.train_biases ? form.elements.train_biases.checked : false;
    return { problems, start, eta, iterations, trainBiases };
  }

  function shown(name, value, prefix) {
    const span = document.createElement("span");
    span.dataset.quantity = prefix + name;
    span.dataset.value = String(value);
    span.textContent = Number.isFinite(value) ? value.toPrecision(10) : String(value);
    return span;
  }

  function resultsTable(first, last) {
    const names = network().COLUMNS.filter((name) => name !== "iteration");
    const table = document.createElement("table");
    table.className = "nnbook-results-table";
    const head = table.createTHead().insertRow();
    for (const title of ["quantity", "iteration 0", `after ${last.iteration} updates`]) {
      const cell = document.createElement("th");
      cell.scope = "col";
      cell.textContent = title;
      head.appendChild(cell);
    }
    const body = table.createTBody();
    for (const name of names) {
      const row = body.insertRow();
      const label = document.createElement("th");
      label.scope = "row";
      label.textContent = name;
      row.appendChild(label);
      row.insertCell().appendChild(shown(name, first[name], ""));
      row.insertCell().appendChild(shown(name, last[name], "final:"));
    }
    return table;
  }

  // E_total against iteration on a canvas, in the text colour of the page (light or dark).
  function drawCurve(canvas, rows) {
    const context = canvas.getContext("2d");
    const { width, height } = canvas;
    const margin = { left: 70, right: 12, top: 12, bottom: 30 };
    context.clearRect(0, 0, width, height);
    const colour = getComputedStyle(canvas).color || "#333";
    context.strokeStyle = colour;
    context.fillStyle = colour;
    context.font = "12px sans-serif";
    const values = rows.map((row) => row.E_total).filter(Number.isFinite);
    if (values.length === 0) return;
    const top = Math.max(...values);
    const last = Math.max(rows.length - 1, 1);
    const x = (k) => margin.left + (k / last) * (width - margin.left - margin.right);
    const y = (v) => height - margin.bottom - (v / top) * (height - margin.top - margin.bottom);
    context.beginPath();
    context.moveTo(margin.left, margin.top);
    context.lineTo(margin.left, height - margin.bottom);
    context.lineTo(width - margin.right, height - margin.bottom);
    context.stroke();
    context.fillText(top.toPrecision(3), 4, margin.top + 10);
    context.fillText("0", margin.left - 14, height - margin.bottom);
    context.fillText("iteration", width / 2 - 20, height - 8);
    context.fillText(String(rows.length - 1), width - margin.right - 24, height - 8);
    context.lineWidth = 2;
    context.beginPath();
    rows.forEach((row, k) => {
      if (k === 0) context.moveTo(x(k), y(row.E_total));
      else context.lineTo(x(k), y(row.E_total));
    });
    context.stroke();
    canvas.dataset.finalEtotal = String(rows[rows.length - 1].E_total);
  }

  function toCsv(rows) {
    const columns = network().COLUMNS;
    const lines = [columns.join(",")];
    for (const row of rows) lines.push(columns.map((name) => String(row[name])).join(","));
    return lines.join("\n") + "\n";
  }

  function setUpCalculator(form) {
    const results = form.querySelector(".nnbook-results");
    const canvas = form.querySelector(".nnbook-chart");
    let rows = [];
    function update() {
      const input = readForm(form);
      results.replaceChildren();
      if (input.problems.length) {
        const message = document.createElement("p");
        message.className = "nnbook-problem";
        message.setAttribute("role", "alert");
        message.textContent = input.problems.join("; ");
        results.appendChild(message);
        return;
      }
      rows = run(input.start, input.eta, input.iterations, input.trainBiases);
      results.appendChild(resultsTable(rows[0], rows[rows.length - 1]));
      requestAnimationFrame(() => drawCurve(canvas, rows));
    }
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    form.querySelector('[data-action="update"]').addEventListener("click", () => {
      const input = readForm(form);
      if (input.problems.length) return update();
      const step = run(input.start, input.eta, 1, input.trainBiases)[1];
      for (const name of network().PARAMETERS) form.elements[name].value = String(step[name]);
      update();
    });
    form.querySelector('[data-action="reset"]').addEventListener("click", () => {
      form.reset();
      update();
    });
    form.querySelector('[data-action="csv"]').addEventListener("click", () => {
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([toCsv(rows)], { type: "text/csv" }));
      link.download = "nnbook-backprop.csv";
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
    update();
  }

  function setUpEtaExplorer(form) {
    const start = JSON.parse(form.dataset.parameters);
    const canvas = form.querySelector(".nnbook-chart");
    const slider = form.elements.eta;
    const output = form.elements["eta-shown"];
    const iterations = Number(form.elements.iterations.value);
    function update() {
      const eta = Number(slider.value);
      output.value = `η = ${eta}`;
      canvas.dataset.eta = String(eta);
      const rows = run(start, eta, iterations, false);
      requestAnimationFrame(() => drawCurve(canvas, rows));
    }
    slider.addEventListener("input", update);
    update();
  }

  function setUp() {
    if (!network()) return;
    document.querySelectorAll("form.nnbook-calculator").forEach(setUpCalculator);
    document.querySelectorAll("form.nnbook-eta-explorer").forEach(setUpEtaExplorer);
  }

  // After load: the page paints first, the numbers and charts follow.
  if (document.readyState === "complete") setUp();
  else window.addEventListener("load", setUp);
})();
