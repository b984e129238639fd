"""Command line: `laminar-pg serve | slt | bench`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from laminar_pg.config import Config, parse_duration


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _on_off(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("on", "true", "1", "yes"):
        return True
    if lowered in ("off", "false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid value {text!r} (on or off)")


def _metrics_port(text: str) -> int | None:
    """A port number (0: a free one) or `off`."""
    if text.strip().lower() == "off":
        return None
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid metrics port {text!r} (a port number, 0 for a free one, or off)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"metrics port {port} is out of range (0-65535)")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="laminar-pg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    env = os.environ.get
    serve.add_argument("--host", default=env("LAMINAR_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(env("LAMINAR_PORT", "6875")))
    serve.add_argument("--data-dir", type=Path, default=Path(env("LAMINAR_DATA_DIR", "laminar-data")))
    serve.add_argument("--workers", type=int, default=int(env("LAMINAR_WORKERS", str(os.cpu_count() or 1))))
    # default: 6876, or a free port too when --port 0 asks for one (both land in
    # DATA_DIR/server.json); LAMINAR_METRICS_PORT overrides the default
    serve.add_argument("--metrics-port", type=_metrics_port, default=argparse.SUPPRESS)
    serve.add_argument("--operator-metrics", type=_on_off,
                       default=env("LAMINAR_OPERATOR_METRICS", "on"),
                       help="per-operator counters (off: operator_metrics reads zeros)")
    serve.add_argument("--barrier-interval", type=_duration, default="200ms")
    serve.add_argument("--checkpoint-interval", type=_duration, default="10s")
    serve.add_argument("--checkpoints-retained", type=int, default=3)
    serve.add_argument("--auth", choices=("trust", "scram"), default=env("LAMINAR_AUTH"))
    serve.add_argument("--password-file", type=Path, default=env("LAMINAR_PASSWORD_FILE"))
    serve.add_argument("--tls-cert", type=Path, default=env("LAMINAR_TLS_CERT"))
    serve.add_argument("--tls-key", type=Path, default=env("LAMINAR_TLS_KEY"))
    serve.add_argument("--log-format", choices=("text", "json"), default=env("LAMINAR_LOG_FORMAT", "text"))
    serve.add_argument("--log-level", default=env("LAMINAR_LOG_LEVEL", "info"))
    slt = sub.add_parser("slt", help="run sqllogictest files against a server", add_help=False)
    slt.add_argument("args", nargs=argparse.REMAINDER, help="see `laminar-pg slt --help`")
    bench = sub.add_parser("bench", help="run a benchmark from bench/ (e.g. `bench wire --rounds 5`)")
    bench.add_argument("name", help="the benchmark: a script bench/NAME.py in the source tree")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="its own flags")
    return parser


def run_benchmark(name: str, args: list[str]) -> int:
    """Benchmarks live in bench/ beside the package (a source checkout), each with main(argv)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.py") if not p.stem.startswith("_"))
        raise SystemExit(f"laminar-pg: no benchmark {name!r} (available: {', '.join(available)})")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return int(module.main(args))


def config_from_args(args: argparse.Namespace) -> Config:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise SystemExit("laminar-pg: --tls-cert and --tls-key go together")
    if args.auth == "scram" and args.password_file is None:
        raise SystemExit("laminar-pg: --auth scram needs --password-file")
    if hasattr(args, "metrics_port"):
        metrics = args.metrics_port
        if isinstance(metrics, str):
            metrics = _metrics_port(metrics)
    elif os.environ.get("LAMINAR_METRICS_PORT"):
        metrics = _metrics_port(os.environ["LAMINAR_METRICS_PORT"])
    else:  # two servers on free ports must not both take 6876
        metrics = 0 if args.port == 0 else 6876
    return Config(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        workers=max(1, args.workers),
        metrics_port=metrics,
        operator_metrics=(args.operator_metrics if isinstance(args.operator_metrics, bool)
                          else _on_off(args.operator_metrics)),
        barrier_interval=args.barrier_interval if isinstance(args.barrier_interval, float) else parse_duration(args.barrier_interval),
        checkpoint_interval=args.checkpoint_interval if isinstance(args.checkpoint_interval, float) else parse_duration(args.checkpoint_interval),
        checkpoints_retained=args.checkpoints_retained,
        auth=args.auth,
        password_file=args.password_file,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        log_format=args.log_format,
        log_level=args.log_level,
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from laminar_pg.logs import configure_logging
        from laminar_pg.main import serve

        config = config_from_args(args)
        configure_logging(config.log_format, config.log_level)
        sys.exit(serve(config))
    if args.command == "slt":
        from laminar_pg.slt.cli import main as slt_main

        sys.exit(slt_main(args.args))
    if args.command == "bench":
        sys.exit(run_benchmark(args.name, args.args))
