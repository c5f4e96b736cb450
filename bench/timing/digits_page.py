"""How long the page "Draw a digit" takes to read one digit, in headless Chromium.

Opens the built page from ``file://`` (build the book first), and times, inside the page,
``nnbookDigits.logProbabilities`` on test digits one at a time (the forward pass alone), for
each network, best and median of ``--digits`` calls after a warm-up.

    python -m bench.timing.digits_page --digits 200
    python -m bench.timing.digits_page --record bench/results/digits_page.jsonl
"""

from __future__ import annotations

import argparse

from bench.common import add_record_flag, positive_int
from bench.provenance import ROOT, append_record, provenance
from nnbook.browser import chromium
from nnbook.mnist.data import read_raw
from nnbook.mnist.export import DRAWN_MODELS

PAGE = ROOT / "_build" / "html" / "book" / "part2" / "digits.html"
TIMED = """([name, rows]) => {
  for (const row of rows.slice(0, 5)) nnbookDigits.logProbabilities(name, row);  // warm-up
  const times = rows.map(row => {
    const started = performance.now();
    nnbookDigits.logProbabilities(name, row);
    return performance.now() - started;
  }).sort((a, b) => a - b);
  return {best: times[0], median: times[Math.floor(times.length / 2)]};
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=positive_int, default=200)
    add_record_flag(parser, "bench/results/digits_page.jsonl")
    args = parser.parse_args()
    if not PAGE.is_file():
        parser.error(f"no {PAGE}: build the book first")
    origin = provenance("cpu")
    _, _, images, _ = read_raw(download=False)
    rows = (images[: args.digits].reshape(args.digits, -1).double() / 255).tolist()
    results = []
    with chromium() as browser:
        page = browser.new_page()
        page.goto(PAGE.as_uri(), wait_until="load")
        page.wait_for_function("() => window.nnbookDigits !== undefined")
        for name in DRAWN_MODELS:  # the networks the build exported for drawing
            timed = page.evaluate(TIMED, [name, rows])
            results.append({"model": name, "ms best": timed["best"], "ms median": timed["median"]})
            print(
                f"{name}: one digit in {timed['median']:.2f} ms (median; best {timed['best']:.2f})"
            )
    if args.record:
        append_record(args.record, origin | {"digits": args.digits, "runs": results})


if __name__ == "__main__":
    main()
