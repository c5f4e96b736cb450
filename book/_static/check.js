// "Check your own derivative": reads a formula the reader types, in the class notes' names, and
// compares it with SymPy's derivative at many points. No formula lives here: the answers, the
// mistakes and the forward pass that gives every name its value come from
// window.nnbookCheckData, which nnbook.derivative_check prints from SymPy into
// _static/nnbook-check.js; the formula is parsed by mathjs (window.math, _static/mathjs/).
//
// window.nnbookCheck(question, text) -> { result: "right" | "wrong" | "invalid", message }.
(function () {
  "use strict";

  const FUNCTIONS = {
    sigmoid: (x) => 1 / (1 + Math.exp(-x)), // σ(x) = 1/(1 + e^(−x))
    exp: Math.exp,
    log: Math.log,
  };
  const OPERATORS = new Set(["add", "subtract", "multiply", "divide", "pow", "unaryMinus", "unaryPlus"]);
  // What a reader may write for what mathjs reads: σ for sigmoid, · and × for *, ** for ^.
  const SPELLINGS = [
    [/σ/g, "sigmoid"],
    [/[·×⋅∙]/g, "*"],
    [/\*\*/g, "^"],
    [/[−–]/g, "-"],
  ];

  function data() {
    return window.nnbookCheckData;
  }

  function invalid(message) {
    return { result: "invalid", message };
  }

  // "a_h1(1 - a_h1)" reads as a call of a_h1 in mathjs; a name before parentheses multiplies.
  function asProduct(node, names) {
    return node.transform((n) =>
      n.type === "FunctionNode" && names.includes(n.fn.name) && n.args.length === 1
        ? new window.math.OperatorNode("*", "multiply", [
            new window.math.SymbolNode(n.fn.name),
            new window.math.ParenthesisNode(n.args[0]),
          ])
        : n,
    );
  }

  // The first thing of the tree that is not a number, a name of the family, an allowed
  // function, an arithmetic operator or parentheses; null if there is none.
  function problemOf(node, names) {
    let problem = null;
    node.traverse((n, path, parent) => {
      if (problem) return;
      if (n.type === "SymbolNode") {
        const called = parent && parent.type === "FunctionNode" && path === "fn";
        if (called && !(n.name in FUNCTIONS)) problem = `unknown function "${n.name}"`;
        if (!called && !names.includes(n.name)) {
          problem = `unknown name "${n.name}"; the names are ${names.join(" ")} (a product needs *)`;
        }
      } else if (n.type === "ConstantNode") {
        if (typeof n.value !== "number") problem = `"${n.value}" is not a number`;
      } else if (n.type === "OperatorNode") {
        if (!OPERATORS.has(n.fn)) problem = `"${n.op}" is not allowed`;
      } else if (n.type === "FunctionNode") {
        if (n.args.length !== 1) problem = `${n.fn.name} takes one argument`;
      } else if (n.type !== "ParenthesisNode") {
        problem = `"${n.toString()}" is not a formula`;
      }
    });
    return problem;
  }

  // The typed text as a checked mathjs tree: { node } or { problem }.
  function read(text, names) {
    if (typeof text !== "string" || text.trim() === "") return { problem: "type a formula" };
    let source = text;
    for (const [spelling, meant] of SPELLINGS) source = source.replace(spelling, meant);
    let node;
    try {
      node = asProduct(window.math.parse(source), names);
    } catch (error) {
      return { problem: `cannot read "${text}": ${error.message}` };
    }
    const problem = problemOf(node, names);
    return problem ? { problem } : { node };
  }

  // Every name's value at each point: the point's own, then the forward pass's.
  function scopes(family) {
    return family.points.map((point) => Object.assign({}, point, family.forward(point)));
  }

  // Equal within the relative tolerance at every point (nnbook.derivative_check.RTOL).
  function sameAt(a, b) {
    const rtol = data().RTOL;
    return a.every((x, k) => Math.abs(x - b[k]) <= rtol * Math.max(Math.abs(x), Math.abs(b[k])));
  }

  function valuesOf(formula, all) {
    return all.map((scope) => formula(scope));
  }

  function pointText(family, scope) {
    return Object.keys(family.points[0])
      .map((name) => `${name} = ${Number(scope[name].toPrecision(6))}`)
      .join(", ");
  }

  function verdict(key, text) {
    const questions = data().questions;
    if (!Object.prototype.hasOwnProperty.call(questions, key)) {
      return invalid(`unknown question "${key}"; the questions are ${Object.keys(questions).join(", ")}`);
    }
    const question = questions[key];
    const family = data().families[question.family];
    const typed = read(text, family.names);
    if (typed.problem) return invalid(typed.problem);
    const compiled = typed.node.compile();
    const all = scopes(family);
    const yours = all.map((scope) => compiled.evaluate(Object.assign({}, scope, FUNCTIONS)));
    const bad = yours.findIndex((v) => typeof v !== "number" || !Number.isFinite(v));
    if (bad >= 0) {
      return {
        result: "wrong",
        message: `Not a finite real number at ${pointText(family, all[bad])}.`,
      };
    }
    const answer = valuesOf(question.answer, all);
    if (sameAt(yours, answer)) return { result: "right", message: `Right: that is ${question.text}.` };
    return { result: "wrong", message: whatIsWrong(question, family, all, yours, answer) };
  }

  // The first mistake the formula equals; else another question's answer; else both values.
  function whatIsWrong(question, family, all, yours, answer) {
    for (const mistake of question.mistakes) {
      if (sameAt(yours, valuesOf(mistake.value, all))) return mistake.message;
    }
    for (const other of Object.values(data().questions)) {
      if (other !== question && other.family === question.family) {
        if (sameAt(yours, valuesOf(other.answer, all))) {
          return `That is ${other.text}; the question asks for ${question.text}.`;
        }
      }
    }
    const shown = (x) => Number(x.toPrecision(6));
    return (
      `Not equal to ${question.text}. At ${pointText(family, all[0])}, ` +
      `yours is ${shown(yours[0])} and ${question.text} is ${shown(answer[0])}.`
    );
  }

  function check(question, text) {
    try {
      return verdict(question, text);
    } catch (error) {
      return invalid(`could not check it: ${error.message}`);
    }
  }

  // What the page read, typeset: σ for sigmoid, the book's names (a_h1 as a_{h1}).
  function latexOf(question, text) {
    const family = data().families[(data().questions[question] || {}).family];
    if (!family) return null;
    const typed = read(text, family.names);
    if (typed.problem) return null;
    return typed.node.toTex({
      handler(node, options) {
        // a space before, as mathjs's own names have: "\\cdot a_{o1}", not "\\cdota_{o1}"
        if (node.type === "SymbolNode" && family.latex[node.name]) return ` ${family.latex[node.name]}`;
        if (node.type === "FunctionNode" && node.fn.name === "sigmoid") {
          return `\\sigma\\left(${node.args[0].toTex(options)}\\right)`;
        }
        return undefined;
      },
    });
  }

  function showTyped(box, question, text) {
    const shown = box.querySelector("[data-typed]");
    const latex = latexOf(question, text);
    const mathjax = window.MathJax;
    if (mathjax && mathjax.typesetClear) mathjax.typesetClear([shown]);
    shown.textContent = latex === null ? "" : `read as \\(${latex}\\)`;
    shown.dataset.latex = latex === null ? "" : latex;
    if (latex !== null && mathjax && mathjax.typesetPromise) {
      mathjax.typesetPromise([shown]).catch(() => {});
    }
  }

  function attach(box) {
    const question = box.dataset.nnbookCheck;
    const field = box.querySelector("input");
    const shown = box.querySelector("[data-verdict]");
    const run = () => {
      const { result, message } = check(question, field.value);
      shown.dataset.result = result;
      shown.textContent = message;
      field.setAttribute("aria-invalid", result === "right" ? "false" : "true");
      showTyped(box, question, field.value);
    };
    box.querySelector('button[data-action="check"]').addEventListener("click", run);
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        run();
      }
    });
  }

  window.nnbookCheck = check;
  const start = () => document.querySelectorAll("[data-nnbook-check]").forEach(attach);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
