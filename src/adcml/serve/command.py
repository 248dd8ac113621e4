"""``adcml serve`` and ``python -m adcml.serve``: the model server's command-line options."""

from __future__ import annotations

import click

from adcml.serve import ServeSettings, SettingsError


@click.command("serve")
@click.option("--model", required=True, help="Local model directory or Hugging Face hub id (read from the "
              "local cache when HF_HUB_OFFLINE=1).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0: any free port).")
@click.option("--task", type=click.Choice(["auto", "embed", "classify"]), default="auto", show_default=True,
              help="auto: classify for *ForSequenceClassification models, else embed.")
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when present), cpu, cuda, cuda:N.")
@click.option("--dtype", type=click.Choice(["auto", "float32", "float16", "bfloat16"]), default="auto",
              show_default=True, help="auto: float16 on CUDA, float32 on CPU.")
@click.option("--served-model-name", default=None, help="Name reported by /info and /v1/embeddings.")
@click.option("--max-batch-size", default=32, show_default=True, type=int,
              help="Most inputs per forward pass.")
@click.option("--max-wait-ms", default=2.0, show_default=True, type=float,
              help="How long a batch that is not full waits for more inputs.")
@click.option("--max-client-batch-size", default=32, show_default=True, type=int,
              help="Most inputs in one request.")
@click.option("--max-input-length", default=None, type=int,
              help="Most tokens per input (default: the model's).")
@click.option("--max-input-chars", default=100_000, show_default=True, type=int,
              help="Most characters per input, even with truncate.")
@click.option("--payload-limit", default=2_000_000, show_default=True, type=int,
              help="Most bytes per request body.")
@click.option("--max-concurrent-requests", default=512, show_default=True, type=int,
              help="Requests in flight beyond this get 429.")
@click.option("--auto-truncate", is_flag=True, default=False, help="Truncate over-long inputs by default.")
@click.option("--api-key", envvar=["ADCML_SERVE_API_KEY", "API_KEY"], default=None, show_envvar=True,
              help="Require Authorization: Bearer KEY (prefer the environment variable to the option).")
@click.option("--threads", default=None, type=int,
              help="Torch threads per forward pass (default: see --streams).")
@click.option("--streams", default=None, type=int,
              help="Forward passes at once (default: one per core with one thread each on CPU, 1 on CUDA).")
@click.option("--padding-free", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="Pack each batch's tokens instead of padding inputs to the longest (BERT encoders); "
              "auto: on CPU.")
@click.option("--warmup/--no-warmup", default=True, show_default=True,
              help="Run the model before /health says ready.")
@click.option("--drain-timeout", default=30.0, show_default=True, type=float,
              help="Seconds SIGTERM waits for in-flight requests.")
def serve(model: str, **options) -> None:
    """Serve a transformers model with the API of text-embeddings-inference."""
    try:
        settings = ServeSettings(model=model, **options)
    except SettingsError as exc:
        raise click.BadParameter(exc.problem, param_hint="--" + exc.option.replace("_", "-")) from None
    try:
        # Here, not at the top: these import torch (about 2 s), which `adcml --help` and every
        # other command must not pay (the adcml.serve package docstring).
        from adcml.serve.model import resolve_device
        from adcml.serve.server import serve as run_server
    except ImportError as exc:
        raise click.ClickException(f"the model server needs the serve extra ({exc.name} is missing). "
                                   "Hint: pip install 'adcml[serve]'") from None
    try:
        resolve_device(settings.device)  # a wrong --device fails here, not after the port is open
        code = run_server(settings)
    except SettingsError as exc:
        raise click.BadParameter(exc.problem, param_hint="--" + exc.option.replace("_", "-")) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc}") from None
    raise SystemExit(code)

