"""The ``zoo`` command line.

Only click and zoo's light modules are imported here, so ``zoo --help`` does
not import torch; each command imports what it needs when it runs.
"""

from __future__ import annotations

import os
import sys

import click

from zoo.errors import ZooError

INTERRUPTED_EXIT = 130


class ZooGroup(click.Group):
    """Turns zoo's errors into one line on stderr and a non-zero exit, never a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Kept so results can record the command that made them, however zoo was invoked.
        ctx.meta["zoo.argv"] = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("\nInterrupted: nothing was written.", err=True)
            ctx.exit(INTERRUPTED_EXIT)


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="zoo", prog_name="zoo")
@click.option("--strict-plugins", is_flag=True, envvar="ZOO_STRICT_PLUGINS",
              help="Fail when any plugin fails to load, instead of reporting it in `zoo plugins`.")
@click.option("--registry", type=click.Path(file_okay=False), envvar="ZOO_REGISTRY",
              help="Registry directory (default: $ZOO_HOME/registry).")
@click.pass_context
def main(ctx: click.Context, strict_plugins: bool, registry: str | None) -> None:
    """Turn a float CNN into an int8 model, measure what it cost, and keep and share the result.

    \b
    Quick start (offline, about 3 minutes on 2 cores):
      zoo quantize mobilenet_v2 --preset fbgemm-histogram
    \b
    See what is available:
      zoo models      architectures          zoo presets   quantization recipes
      zoo datasets    evaluation datasets    zoo plugins   where each came from

    \b
    Keep and share what you made:
      zoo list        the registry          zoo compare A B   side by side
      zoo push NAME   to the Hugging Face Hub   zoo pull resnet18-int8

    Environment: ZOO_HOME (data directory, default ~/.local/share/zoo),
    ZOO_REGISTRY, ZOO_PLUGINS (comma list of plugins to load; empty loads none),
    ZOO_STRICT_PLUGINS=1, ZOO_NO_PROGRESS=1, ZOO_HUB_NAMESPACE (default Hub
    namespace), and huggingface_hub's own (HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE).
    """
    ctx.ensure_object(dict)
    ctx.obj["strict_plugins"] = strict_plugins or None
    from zoo.plugins import host

    host.strict = bool(strict_plugins)
    if registry:
        # Every part of zoo finds the registry through this variable, so one option reaches them all.
        os.environ["ZOO_REGISTRY"] = registry


def _register_commands() -> None:
    from zoo.cli import catalog, hub, jobs, registry

    for module in (catalog, jobs, registry, hub):
        for command in module.COMMANDS:
            main.add_command(command)


_register_commands()


def run() -> None:  # pragma: no cover - the console-script shim
    sys.exit(main())
