"""Command line: `python -m fashion_lib <command>` (also installed as `fashion-report`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from fashion_lib import config, terminal


def _data(args: argparse.Namespace) -> int:
    """Locate and verify the data, then print where it is and what it holds."""
    from fashion_lib.data import class_counts, load_fashion_mnist

    dataset = load_fashion_mnist(args.data_dir, allow_download=args.download, verify_checksums=not args.no_verify)
    if args.quiet:
        return 0
    print(f"Fashion-MNIST found in {dataset.source}")
    checksums = "match the published MD5 sums" if dataset.checksums_verified else "not checked (--no-verify)"
    print(f"Checksums: {checksums}")
    splits = {
        "train": class_counts(dataset.train_labels),
        "test": class_counts(dataset.test_labels),
    }
    print(f"{'class':<14}{'train':>8}{'test':>8}")
    for name in config.CLASS_NAMES:
        print(f"{name:<14}{splits['train'][name]:>8}{splits['test'][name]:>8}")
    print(f"{'total':<14}{len(dataset.train_labels):>8}{len(dataset.test_labels):>8}")
    return 0


def _report(args: argparse.Namespace) -> int:
    """Run the four notebooks of a profile and render the report."""
    from fashion_lib.report.execution import NotebookFailed
    from fashion_lib.report.pipeline import run_report

    try:
        with terminal.termination_as_interrupt():
            result = run_report(
                args.profile,
                args.set,
                show_code=args.show_code,
                force=args.force,
                from_notebook=args.from_notebook,
                fresh=args.fresh,
                name=args.name,
                keep=args.keep_runs,
            )
    except NotebookFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Report: {result.report_dir / 'index.html'}")
    print(f"Models: {result.run_dir}")
    print(f"Total time: {result.timings['total_s']:.0f} s (run {result.run_id})")
    return 0


def _runs(args: argparse.Namespace) -> int:
    """List the kept report runs and refresh the page that compares them."""
    from fashion_lib.report.history import format_runs, list_runs, unfinished_runs, write_runs_page

    entries = list_runs(args.profile)
    print(format_runs(entries, unfinished_runs(args.profile)))
    if entries:
        print(f"Side by side: {write_runs_page()}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    """Classify the user's own pictures; exit 1 when any picture could not be classified."""
    import json

    from fashion_lib.predict import classify_files, find_default_model

    model_path = args.model if args.model else find_default_model()
    results = classify_files(args.images, model_path=model_path, top=args.top, show_input_dir=args.show_input)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"Model: {model_path}")
        for result in results:
            if "error" in result:
                print(f"error: {result['error']}", file=sys.stderr)
                continue
            print(result["image"])
            for prediction in result["predictions"]:
                print(f"  {prediction['class']:<12} {prediction['probability']:6.1%}")
            if "model_input" in result:
                print(f"  model input: {result['model_input']}")
    return 1 if any("error" in result for result in results) else 0


def _bench(args: argparse.Namespace) -> int:
    """Measure training and inference speed and print the figures."""
    terminal.import_tensorflow_quietly()
    from fashion_lib.bench import default_output, format_results, run_benchmark

    output = args.output or default_output()
    results = run_benchmark(
        quick=args.quick,
        batch_size=args.batch_size,
        race_epochs=args.race_epochs,
        output=output,
        progress=lambda message: print(f"measuring: {message}", file=sys.stderr, flush=True),
    )
    print(format_results(results))
    print(f"Figures written to {output}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    """Run a search over a chief and workers on this machine, or one process of a search over machines."""
    from fashion_lib.report.profiles import search_settings
    from fashion_lib.search.supervisor import tune

    return tune(
        search_settings(args.model, args.profile, args.set),
        profile=args.profile,
        overrides=args.set,
        directory=args.directory,
        workers=args.workers,
        role=args.role,
        oracle=args.oracle,
        worker_id=args.worker_id,
        resume=args.resume,
        max_restarts=args.max_restarts,
        ready_file=args.ready_file,
    )


class _Parser(argparse.ArgumentParser):
    """An argument parser whose refusals are one line on stderr, `error: …`, exit code 1, as the commands' own."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message} (`{self.prog} --help` lists the options)\n")


def _at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `low`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"must be an integer of at least {low}, got {text!r}")
        return value

    return parse


_VERBOSE_HELP = (
    f"show all that the processes it starts print, TensorFlow's and Jupyter's start-up notices included "
    f"(as ${terminal.VERBOSE_ENV}=1 does)"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subcommand per task."""
    parser = _Parser(prog="python -m fashion_lib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = commands.add_parser("data", help="find and verify the Fashion-MNIST files")
    data.add_argument(
        "--data-dir",
        help=f"folder with the four IDX files (default: ${config.DATA_ENV_VAR}, "
        "then Debian's package, then Keras' cache)",
    )
    data.add_argument("--download", action="store_true", help="download from the official mirror when missing")
    data.add_argument("--no-verify", action="store_true", help="skip the MD5 check (your own variant of the data)")
    data.add_argument("--quiet", action="store_true", help="print nothing; the exit code tells")
    data.set_defaults(handler=_data)

    report = commands.add_parser("report", help="run the four notebooks of a profile and render the report")
    report.add_argument(
        "--profile", default="standard", help="a profile in profiles/ (quick, standard, full, replicate)"
    )
    report.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter: seed=3 for every notebook, cnn.max_trials=5 for one",
    )
    report.add_argument("--show-code", action="store_true", help="show the code cells in the HTML pages and PDF")
    report.add_argument(
        "--force", action="store_true", help="execute every notebook, even those unchanged since the last run"
    )
    report.add_argument(
        "--from",
        dest="from_notebook",
        metavar="NOTEBOOK",
        help="execute this notebook (e.g. 03_cnn, 03 or cnn) and every one after it",
    )
    report.add_argument(
        "--fresh", action="store_true", help="start over instead of resuming an interrupted run of the profile"
    )
    report.add_argument("--name", help="the run's name in the history (default: its start time, YYYYmmdd-HHMMSS)")
    report.add_argument(
        "--keep-runs",
        type=int,
        metavar="N",
        help="earlier runs of the profile to keep in report/history/ (default: $FASHION_KEEP_RUNS, else 5)",
    )
    report.add_argument("--verbose", action="store_true", help=_VERBOSE_HELP)
    report.set_defaults(handler=_report)

    runs = commands.add_parser("runs", help="list the kept report runs and write report/runs.html comparing them")
    runs.add_argument("--profile", help="only this profile's runs")
    runs.set_defaults(handler=_runs)

    bench = commands.add_parser("bench", help="measure training speed against the CPU's matrix-multiply peak")
    bench.add_argument("--quick", action="store_true", help="throughput only, on 20,000 images (under a minute)")
    bench.add_argument(
        "--batch-size",
        type=_at_least(1),
        help="batch size of the project's training path (default: MLP 1024; CNN 512, or 256 without AVX-512)",
    )
    bench.add_argument(
        "--race-epochs",
        type=_at_least(1),
        help="epochs of each training in the accuracy race (default: the standard profile's final_epochs; the best "
        "profile's for the whitened CNN)",
    )
    bench.add_argument("--output", type=Path, help="JSON file for the figures (default: runs/bench/bench.json)")
    bench.set_defaults(handler=_bench)

    predict = commands.add_parser("predict", help="classify your own pictures of fashion items")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="picture files (PNG, JPEG, ...), one item each")
    predict.add_argument(
        "--model",
        help=f"a saved Keras model (default: the newest {config.RUNS_DIR}/<profile>/cnn.keras)",
    )
    predict.add_argument("--top", type=int, default=3, metavar="K", help="show the K most probable classes (default 3)")
    predict.add_argument("--json", action="store_true", help="print the results as JSON")
    predict.add_argument(
        "--show-input", metavar="DIR", help="save the 28x28 picture the model sees, per image, as a PNG in DIR"
    )
    predict.set_defaults(handler=_predict)

    tune = commands.add_parser(
        "tune", help="hyperparameter search over several processes or machines (Keras Tuner's distributed mode)"
    )
    tune.add_argument("--model", required=True, help="mlp or cnn")
    tune.add_argument("--profile", default="standard", help="the profile whose mlp:/cnn: section sets the search")
    tune.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter, as for report"
    )
    tune.add_argument("--directory", help="the tuner folder every process shares (default: runs/<profile>/tuner)")
    tune.add_argument("--workers", type=int, help="run a chief and this many workers on this machine (default 2)")
    tune.add_argument("--max-restarts", type=int, default=1, help="restarts of each local worker that dies (default 1)")
    tune.add_argument("--resume", action="store_true", help="continue the search in the folder instead of a new one")
    tune.add_argument("--role", help="chief or worker: this process's part in a search spread over machines")
    tune.add_argument("--oracle", metavar="HOST:PORT", help="with --role: where the chief listens")
    tune.add_argument("--worker-id", help="with --role worker: this worker's id (default: <hostname>-<pid>)")
    # Internal: a local search's chief writes its port there once it listens.
    tune.add_argument("--ready-file", help=argparse.SUPPRESS)
    tune.add_argument("--verbose", action="store_true", help=_VERBOSE_HELP)
    tune.set_defaults(handler=_tune)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; expected failures print one message and exit non-zero, without a traceback."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a refused argument (one line already printed)
        return stop.code if isinstance(stop.code, int) else 1
    if getattr(args, "verbose", False):
        # The environment, so that the processes the command starts (a search's chief, kernels) see it too.
        os.environ[terminal.VERBOSE_ENV] = "1"
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        # A full disk or an unwritable output folder: one line, not a traceback.
        from fashion_lib.storage import describe_write_error

        print(f"error: {describe_write_error(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
